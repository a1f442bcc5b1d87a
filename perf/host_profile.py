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
then whatever the fill order left in each tier).

``mapping_balance`` places a stream's tokens over bank groups with the
paper's greedy rule (``host.mapping.DeviceMapper``) or all into one group
after another (fill-first, the placement without the mapping), and returns
the mean max/mean activations per group per step.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from host.mapping import DeviceMapper, DeviceShape
from golden.traces.activations import activated_stream
from host.scheduler import TierScheduler, scheduler_update
from hw.tierconfig import MemoryTier

__all__ = ["HostProfile", "host_profile", "mapping_balance"]

PROFILE_TOKENS = 4096          # the representative request is scaled to this many tokens


@dataclasses.dataclass(frozen=True)
class HostProfile:
    activated_share: tuple        # fraction of the step's activated tokens in HBM, DDR, SSD
    moved: float                  # tokens moved per step / context
    ssd_to_ddr: float             # tokens moved SSD -> DDR per step / context


@functools.cache
def host_profile(fractions: tuple, sparsity: float, dynamic: bool, x: float = 8.0, y: float = 3.0, steps: int = 12,
                 warmup: int = 4, seed: int = 1, lam: float = 0.6) -> HostProfile:
    """Run Algorithm 2 (targets x, y; Eq. 7 with ``lam``) on one request whose tokens split over HBM/DDR/SSD as
    ``fractions``."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not abs(sum(fractions) - 1) < 1e-9:
        raise ValueError(f"tier fractions must be three non-negative shares summing to 1, not {fractions}")
    n = PROFILE_TOKENS
    total = n + steps + warmup                        # the tiers keep their shares as the context grows
    caps = [int(round(f * total)) for f in fractions[:2]]
    caps.append(total - sum(caps))
    scheduler = TierScheduler(tuple(caps), x, y, max_moves=256 if dynamic else 0)
    for token in range(n):
        scheduler.add(token)
    rng = np.random.default_rng(seed)
    shares, moved, ssd_ddr = [], [], []
    for step, (context, tokens, scores) in enumerate(activated_stream(rng, n, warmup + steps, sparsity, True)):
        # The step attends over its tokens where the earlier steps left them: their tiers are read before
        # this step's scores and moves, which only serve the steps after it.
        scheduler.add(context - 1)
        tiers = np.array([scheduler.tier_of(int(t)) for t in tokens])
        moves = scheduler_update(scheduler, tokens, scores, lam)
        if step >= warmup:
            shares.append([np.mean(tiers == t) for t in MemoryTier])
            moved.append(len(moves) / context)
            ssd_ddr.append(sum(1 for m in moves if (m.src, m.dst) == (MemoryTier.SSD, MemoryTier.DDR)) / context)
    return HostProfile(tuple(float(x) for x in np.mean(shares, axis=0)), float(np.mean(moved)),
                       float(np.mean(ssd_ddr)))


@functools.cache
def mapping_balance(greedy: bool, groups: int = 16, tokens: int = 2048, steps: int = 20, sparsity: float = 0.0625,
                    seed: int = 1) -> float:
    """Mean max/mean activations per bank group per step, greedy level-1 mapping or fill-first."""
    stripes = -(-(tokens + steps) // groups)
    mapper = DeviceMapper(DeviceShape(0, 0, 1, groups, 1, stripes, 1, 1))
    per_group = -(-(tokens + steps) // groups)
    placed = 0

    def place(token):
        nonlocal placed
        mapper.place(0, token, group=None if greedy else min(placed // per_group, groups - 1))
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
