"""Layered placement (the L-PIM baseline): newest tokens in the fastest tier, striped over banks.

Tiers are filled in the order given (HBM, DDR, SSD), newest tokens first, up to
each tier's capacity. Inside a tier, tokens are dealt round-robin over all its
banks (bank-group-major), so every PU gets a share.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from golden.placement import Placement, TierShape

__all__ = ["layered_placement"]


def layered_placement(tiers: Sequence[TierShape], tokens_per_bank: Sequence[int], tokens: int) -> Placement:
    """Place ``tokens`` tokens (index 0 = oldest) over ``tiers``.

    Parameters
    ----------
    tiers : sequence of TierShape, fastest first
    tokens_per_bank : sequence of int
        Capacity of one bank of each tier, in tokens.
    tokens : int
        Context length.
    """
    if len(tokens_per_bank) != len(tiers):
        raise ValueError(f"tokens_per_bank has {len(tokens_per_bank)} entries for {len(tiers)} tiers")
    if tokens < 0:
        raise ValueError(f"tokens must be >= 0, not {tokens}")
    for shape, cap in zip(tiers, tokens_per_bank):
        if cap < 0:
            raise ValueError(f"tier {shape.name!r}: tokens_per_bank must be >= 0, not {cap}")
    capacity = [shape.banks_total * cap for shape, cap in zip(tiers, tokens_per_bank)]
    if tokens > sum(capacity):
        raise ValueError(f"KV set of {tokens} tokens exceeds the capacity of all tiers "
                         f"({sum(capacity)} tokens: " +
                         ", ".join(f"{s.name} {c}" for s, c in zip(tiers, capacity)) + ")")
    coords = np.zeros((tokens, 4), np.int64)
    newest_first = np.arange(tokens)[::-1]
    start = 0
    for tier, (shape, cap) in enumerate(zip(tiers, capacity)):
        chosen = newest_first[start:start + cap]
        start += len(chosen)
        slot = np.arange(len(chosen))
        bank = slot % shape.banks_total
        coords[chosen] = np.stack([np.full(len(chosen), tier), bank // (shape.bank_groups * shape.banks),
                                   bank // shape.banks % shape.bank_groups, bank % shape.banks], axis=1)
    return Placement(tuple(tiers), coords)
