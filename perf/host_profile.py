"""What the host driver does to a request, measured for the system model: where the activated tokens sit,
how many tokens move per step, and how evenly the activations fall over bank groups.

The system model cannot run the driver over every request of a 1,000-request
batch, so it runs it once per (context, tier split) on one representative
request and scales: ``host_profile`` feeds :class:`host.scheduler.TierScheduler`
the activation stream of ``pam bench schedule`` (sinks, recency, drifting heavy
hitters) and reads off, after a warm-up, the share of activated tokens each
tier holds when the step attends (before its own scores and moves, which
serve the steps after it) and the tokens moved per step by route. With ``dynamic=False`` the
scheduler never swaps (the static placement of LS-PIM: the activated share is
then whatever the placement left in each tier). Where a request's *new* tokens
go is the ``new_tokens`` rule: ``"top"`` keeps room for them in HBM (the
newest tokens, which context locality makes the most attended, sit in the
fastest tier: the strongest static reading, and PAM's), ``"fill"`` puts them
where the fill order has room left, the lowest tier (docs/results.md,
Baselines).

``mapping_balance`` places a stream's tokens over bank groups with the
paper's greedy rule (``host.mapping.DeviceMapper``) or round robin over the
groups, as a memory controller interleaves addresses (the standard layout
without PAM's mapping), and returns the mean max/mean activations per group
per step.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from host.mapping import DeviceMapper, DeviceShape
from golden.traces.activations import activated_stream
from host.scheduler import TierScheduler, scheduler_update
from hw.tierconfig import MemoryTier

__all__ = ["HostProfile", "NEW_TOKEN_RULES", "host_profile", "mapping_balance"]

PROFILE_TOKENS = 4096          # the representative request is scaled to this many tokens
NEW_TOKEN_RULES = ("top", "fill")


@dataclasses.dataclass(frozen=True)
class HostProfile:
    activated_share: tuple        # fraction of the step's activated tokens in HBM, DDR, SSD
    moved: float                  # tokens moved per step / context
    ssd_to_ddr: float             # tokens moved SSD -> DDR per step / context (each with a DDR -> SSD move)
    new_in_ssd: float             # share of the new tokens placed in SSD (written to flash)


@functools.cache
def host_profile(fractions: tuple, sparsity: float, dynamic: bool, x: float = 8.0, y: float = 3.0, steps: int = 12,
                 warmup: int = 4, seed: int = 1, lam: float = 0.6, new_tokens: str = "top") -> HostProfile:
    """Run Algorithm 2 (targets x, y; Eq. 7 with ``lam``) on one request whose tokens split over HBM/DDR/SSD as
    ``fractions``; its new tokens go by the ``new_tokens`` rule (``top`` or ``fill``)."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not abs(sum(fractions) - 1) < 1e-9:
        raise ValueError(f"tier fractions must be three non-negative shares summing to 1, not {fractions}")
    if new_tokens not in NEW_TOKEN_RULES:
        raise ValueError(f"new_tokens must be one of {', '.join(NEW_TOKEN_RULES)}, not {new_tokens!r}")
    n = PROFILE_TOKENS
    grown = steps + warmup
    if new_tokens == "top":                           # the prompt splits as ``fractions``
        caps = [int(round(f * n)) for f in fractions[:2]]
        caps.append(n - sum(caps))
    else:                                             # the tiers keep their shares as the context grows
        caps = [int(round(f * (n + grown))) for f in fractions[:2]]
        caps.append(n + grown - sum(caps))
    scheduler = TierScheduler(tuple(caps), x, y, max_moves=256 if dynamic else 0)
    for token in range(n):
        scheduler.add(token)
    if new_tokens == "top":                           # then HBM has room for every new token
        scheduler.capacities = (caps[0] + grown, caps[1], caps[2])
    rng = np.random.default_rng(seed)
    shares, moved, ssd_ddr, new_ssd = [], [], [], []
    for step, (context, tokens, scores) in enumerate(activated_stream(rng, n, warmup + steps, sparsity, True)):
        # The step attends over its tokens where the earlier steps left them: their tiers are read before
        # this step's scores and moves, which only serve the steps after it.
        new_ssd.append(scheduler.add(context - 1) == MemoryTier.SSD)
        tiers = np.array([scheduler.tier_of(int(t)) for t in tokens])
        moves = scheduler_update(scheduler, tokens, scores, lam)
        if step >= warmup:
            shares.append([np.mean(tiers == t) for t in MemoryTier])
            moved.append(len(moves) / context)
            ssd_ddr.append(sum(1 for m in moves if (m.src, m.dst) == (MemoryTier.SSD, MemoryTier.DDR)) / context)
    return HostProfile(tuple(float(x) for x in np.mean(shares, axis=0)), float(np.mean(moved)),
                       float(np.mean(ssd_ddr)), float(np.mean(new_ssd)))


@functools.cache
def mapping_balance(greedy: bool, groups: int = 16, tokens: int = 2048, steps: int = 20, sparsity: float = 0.0625,
                    seed: int = 1) -> float:
    """Mean max/mean activations per bank group per step, greedy level-1 mapping or round robin."""
    stripes = -(-(tokens + steps) // groups)
    mapper = DeviceMapper(DeviceShape(0, 0, 1, groups, 1, stripes, 1, 1))
    placed = 0

    def place(token):
        nonlocal placed
        mapper.place(0, token, group=None if greedy else placed % groups)
        placed += 1

    for token in range(tokens):
        place(token)
    rng = np.random.default_rng(seed)
    balances = []
    for context, active, _ in activated_stream(rng, tokens, steps, sparsity, True):
        place(context - 1)
        mapper.record_step((0, int(t)) for t in active)
        balances.append(mapper.balance())
    return float(np.mean(balances))
