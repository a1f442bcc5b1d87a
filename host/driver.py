"""The host-side driver: one decode step = score, rebalance tiers, remap, migrate.

For each step of a v2 trace (one request):

1. new tokens (the prompt at step 0, then one per step) are admitted: the
   scheduler puts each in the fastest tier with room, and that tier's mapper
   gives it a bank group, bank, row and column;
2. a score source scores the context; the top ``sparsity`` fraction of
   tokens count as activated (selected by sparse attention). Their scores
   feed Eq. 7 and their bank groups' activation counts;
3. Algorithm 2 swaps tokens between tiers; every move frees the source
   slot, maps a destination slot, and goes through the migration interface,
   which counts bytes, regions and time.

Each step reports moves (in all and by route, e.g. SSD→DDR), tier occupancy
and importance (Eq. 8), per-tier bank-group balance, migration cost, and the
host time the scheduling took: Eq. 7's update, the bank-group activation
counts, Algorithm 2 and the new addresses of the moved tokens. Scoring
itself is not in that time: it is the score source's (sparse attention's) work.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np

from golden.traces.format import KVTrace
from hw.tierconfig import MemoryTier

from .importance import SCORE_SOURCES
from .mapping import DeviceMapper, DeviceShape
from .migration import Transfer, apply_migration, plan_migration
from .scheduler import TierScheduler

__all__ = ["StepReport", "HostDriver"]

REQUEST = 0


@dataclasses.dataclass(frozen=True)
class StepReport:
    step: int
    context: int
    moves: int
    moves_by_route: dict             # "SSD>DDR" -> tokens moved that way this step
    tokens_per_tier: tuple
    importance_per_tier: tuple
    balance_per_tier: tuple          # max/mean activations per bank group, last step
    migration_bytes: int
    migration_time_s: float
    cpu_relayout_time_s: float
    scheduler_time_s: float          # Eq. 7 update + activations + Algorithm 2 + remap (host wall time)


class HostDriver:
    """Drives one request's KV over three tiers, one device each.

    Parameters
    ----------
    shapes : three DeviceShape, one per ``MemoryTier`` in order (HBM, DDR, SSD)
    x, y : Algorithm 2 targets
    source : score source name (``host.importance.SCORE_SOURCES``)
    lam : Eq. 7's λ
    sparsity : fraction of the context activated per step
    max_moves : swap bound per step
    """

    def __init__(self, shapes: Sequence[DeviceShape], x: float, y: float, source: str = "oracle",
                 lam: float = 0.6, sparsity: float = 0.02, max_moves: int = 64):
        if [s.tier for s in shapes] != list(MemoryTier):
            raise ValueError("shapes must be three DeviceShape of tiers 0 (HBM), 1 (DDR), 2 (SSD)")
        if source not in SCORE_SOURCES:
            raise ValueError(f"unknown score source {source!r}; choose one of {sorted(SCORE_SOURCES)}")
        if not 0 < sparsity <= 1:
            raise ValueError(f"sparsity must be in (0, 1], not {sparsity!r}")
        self.shapes, self.source_name, self.lam, self.sparsity = tuple(shapes), source, lam, sparsity
        self.mappers = [DeviceMapper(s) for s in shapes]
        self.scheduler = TierScheduler(tuple(s.capacity for s in shapes), x, y, max_moves)
        self.payloads: dict = {}

    def _admit(self, token: int, payload: bytes) -> None:
        tier = self.scheduler.add(token, 0.0)
        address = self.mappers[tier].place(REQUEST, token)
        self.payloads[address] = payload

    def run(self, trace: KVTrace, steps: int | None = None) -> list[StepReport]:
        """Drive ``trace`` (format v2) for ``steps`` steps (default all)."""
        self.begin(trace)
        steps = trace.steps if steps is None else steps
        if not 1 <= steps <= trace.steps:
            raise ValueError(f"steps must be in 1..{trace.steps}, not {steps}")
        return [self.decode_step(step) for step in range(steps)]

    def begin(self, trace: KVTrace) -> None:
        """Take ``trace`` (format v2) as the request; :meth:`decode_step` then drives its steps in order."""
        if trace.prompt_tokens is None:
            raise ValueError("the driver needs a v2 trace (a growing context): make one with "
                             "pam trace gen --locality")
        self.trace, self._admitted = trace, 0
        self._q, self._k, _ = trace.as_float()
        self._score = SCORE_SOURCES[self.source_name](self._k[:trace.prompt_tokens])

    def decode_step(self, step: int) -> StepReport:
        """Admit the step's new tokens, score, rebalance the tiers and migrate."""
        self.admit(step)
        return self.rebalance(step)

    def admit(self, step: int) -> None:
        """Place the tokens that step ``step`` adds to the context (the prompt at step 0)."""
        trace = self.trace
        for token in range(self._admitted, trace.context(step)):
            self._admit(token, trace.k[token].tobytes() + trace.v[token].tobytes())
        self._admitted = trace.context(step)

    def rebalance(self, step: int) -> StepReport:
        """Score step ``step``'s attention, swap tokens between tiers (Algorithm 2) and migrate them."""
        trace = self.trace
        n = trace.context(step)
        if self._admitted != n:
            raise ValueError(f"step {step}: admit its tokens first ({self._admitted} of {n} placed)")
        s = np.asarray(self._score(self._q[step], self._k[:n]))
        top = np.argsort(s)[-max(1, int(self.sparsity * n)):]
        started = time.perf_counter()
        self.scheduler.apply_scores({int(t): float(s[t]) for t in top}, self.lam)
        for tier, mapper in enumerate(self.mappers):
            mapper.record_step([(REQUEST, int(t)) for t in top if self.scheduler.tier_of(int(t)) == tier])
        ends: dict[int, list[int]] = {}        # token -> [first source tier, last destination tier]
        for mv in self.scheduler.step():        # a token may move twice in a step (SSD -> DDR -> HBM)
            ends.setdefault(mv.token, [mv.src, mv.dst])[1] = mv.dst
        moves = [(token, src, dst) for token, (src, dst) in ends.items() if src != dst]
        freed = []                              # (token, source address, destination tier)
        for token, src_tier, dst_tier in moves:
            freed.append((token, self.mappers[src_tier].address(REQUEST, token), dst_tier))
            self.mappers[src_tier].free_token(REQUEST, token)
        transfers = [Transfer(token, src, self.mappers[dst_tier].place(REQUEST, token))
                     for token, src, dst_tier in freed]
        scheduler_time = time.perf_counter() - started
        routes: dict[str, int] = {}
        for _, src, dst in moves:
            route = f"{MemoryTier(src).label}>{MemoryTier(dst).label}"
            routes[route] = routes.get(route, 0) + 1
        token_bytes = 2 * trace.kv_heads * trace.head_dim * trace.fmt.bytes     # K and V of every kv head
        columns = {shape.tier: shape.columns_per_token for shape in self.shapes}
        plans = plan_migration(transfers, token_bytes, columns) if transfers else []
        apply_migration(self.payloads, transfers, plans)
        return StepReport(
            step=step, context=n, moves=len(moves), moves_by_route=routes, tokens_per_tier=self.scheduler.counts(),
            importance_per_tier=self.scheduler.tier_importance(),
            balance_per_tier=tuple(m.balance() for m in self.mappers),
            migration_bytes=sum(p.bytes for p in plans), migration_time_s=sum(p.time_s for p in plans),
            cpu_relayout_time_s=sum(p.cpu_time_s for p in plans), scheduler_time_s=scheduler_time)

    def bank_tokens(self, tier: int) -> list[list[int]]:
        """The request's tokens in every bank of ``tier``'s device (bank-group major), in address order."""
        return self.mappers[tier].bank_tokens(REQUEST)
