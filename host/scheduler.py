"""Online inter-tier scheduling (the paper's Algorithm 2), with termination and hard capacities.

Tiers are ``hw.tierconfig.MemoryTier``: 0 = HBM, 1 = DDR, 2 = SSD. With IS_T the mean importance of tier
T's tokens, x* = IS_H/IS_S and y* = IS_D/IS_S, one step runs

1. while x* + y* < x + y: swap the least important DDR token with the most
   important SSD token;
2. while x*/y* < x/y: swap the least important HBM token with the most
   important DDR token.

**Termination.** A loop also stops when its swap would not help: when the
token that would move up is not more important than the one that would move
down, or when a tier it needs is empty or IS_S (IS_D in loop 2) is 0. Each
swap it does make strictly raises the importance held by the faster tier,
so no state repeats. On top of that, ``max_moves`` bounds the swaps per step.

**Capacities** are hard: swaps are one for one, and new tokens go to the
fastest tier with room. A token that fits nowhere is refused and nothing
changes.

**Cost.** Each tier keeps a min-heap and a max-heap with lazy deletion.
Eq. 7's decay multiplies every importance by 1 − λ, which keeps the order, so
it is one global scale factor. A step then costs O((s + m)·log n) for s
scored tokens and m moves: the context is never sorted or scanned. The scale
is folded back into the values, in O(n), only when it nears underflow (about
once every 700 steps at λ = 0.6).
"""

from __future__ import annotations

import dataclasses
import heapq

from hw.tierconfig import MemoryTier

__all__ = ["Move", "TierScheduler", "derive_ratios", "scheduler_parameters", "scheduler_step", "scheduler_update"]


@dataclasses.dataclass(frozen=True)
class Move:
    token: int
    src: int
    dst: int


def derive_ratios(throughput_hbm: float, throughput_ddr: float, throughput_ssd: float) -> tuple[float, float]:
    """Target ratios x, y for IS_H : IS_D : IS_S = x : y : 1 from the tiers' attention throughputs.

    The rule: a tier's share of importance should follow its speed, so
    x = T_H / T_S and y = T_D / T_S, with T the tokens per second each tier's
    PUs process (from the calibration that the RTL measures). Important tokens
    then sit where attention over them is fastest, in the proportion the
    tiers can serve.
    """
    for tier, t in zip(MemoryTier, (throughput_hbm, throughput_ddr, throughput_ssd)):
        if not t > 0:
            raise ValueError(f"{tier.label} throughput must be positive, not {t!r}")
    return throughput_hbm / throughput_ssd, throughput_ddr / throughput_ssd


def scheduler_parameters(capacities, x: float, y: float, max_moves: int) -> tuple:
    """A scheduler's parameters, checked: (capacities as a tuple, x, y, max_moves)."""
    capacities = tuple(capacities)
    if len(capacities) != 3 or any(not isinstance(c, int) or c < 0 for c in capacities):
        raise ValueError(f"capacities must be three non-negative integers, not {capacities!r}")
    if not (x > 0 and y > 0):
        raise ValueError(f"target ratios must be positive, not x={x!r}, y={y!r}")
    if max_moves < 0:
        raise ValueError(f"max_moves must be >= 0, not {max_moves}")
    return capacities, x, y, max_moves


class TierScheduler:
    """Places tokens over HBM/DDR/SSD and rebalances them by importance each decode step.

    Parameters
    ----------
    capacities : (int, int, int)
        Tokens each tier can hold (hard limits).
    x, y : float
        Targets IS_H : IS_D : IS_S = x : y : 1 (see :func:`derive_ratios`).
    max_moves : int
        Bound on swaps per step (each swap moves two tokens).
    """

    _RESCALE_BELOW = 1e-150

    def __init__(self, capacities, x: float, y: float, max_moves: int = 256):
        self.capacities, self.x, self.y, self.max_moves = scheduler_parameters(capacities, x, y, max_moves)
        self._tier: dict[int, int] = {}
        self._value: dict[int, float] = {}      # importance / scale
        self._version: dict[int, int] = {}
        self._scale = 1.0
        self._sum = [0.0, 0.0, 0.0]             # in scaled units
        self._count = [0, 0, 0]
        self._min = [[], [], []]
        self._max = [[], [], []]
        self.heap_ops = 0                       # work counter: heap pushes and pops

    # -- queries ------------------------------------------------------------

    def tier_of(self, token: int) -> int:
        try:
            return self._tier[token]
        except KeyError:
            raise ValueError(f"token {token!r} is not placed") from None

    def importance(self, token: int) -> float:
        self.tier_of(token)
        return self._value[token] * self._scale

    def counts(self) -> tuple[int, int, int]:
        return tuple(self._count)

    def tier_importance(self) -> tuple[float, float, float]:
        """IS_T for each tier: mean importance of its tokens (0 when empty)."""
        # Sums are kept incrementally; rounding can leave them a hair below zero.
        return tuple(max(s, 0.0) * self._scale / c if c else 0.0 for s, c in zip(self._sum, self._count))

    def tokens(self) -> dict[int, int]:
        return dict(self._tier)

    # -- changes --------------------------------------------------------------

    def add(self, token: int, importance: float = 0.0) -> int:
        """Place a new token in the fastest tier with room; return the tier."""
        if token in self._tier:
            raise ValueError(f"token {token!r} is already placed (tier {MemoryTier(self._tier[token]).label})")
        if not importance >= 0:
            raise ValueError(f"importance must be >= 0, not {importance!r}")
        for tier in MemoryTier:
            if self._count[tier] < self.capacities[tier]:
                self._tier[token] = tier
                self._count[tier] += 1
                self._version[token] = 0
                self._value[token] = 0.0
                self._set(token, importance / self._scale)
                return tier
        raise ValueError(f"token {token!r} does not fit: every tier is full (capacities {self.capacities})")

    def remove(self, token: int) -> None:
        tier = self.tier_of(token)
        self._sum[tier] -= self._value[token]
        self._count[tier] -= 1
        if self._count[tier] == 0:
            self._sum[tier] = 0.0          # no rounding residue in an empty tier
        del self._tier[token], self._value[token], self._version[token]

    def decay(self, factor: float) -> None:
        """Multiply every importance by ``factor`` in (0, 1]: O(1) (order is unchanged)."""
        if not 0 < factor <= 1:
            raise ValueError(f"decay factor must be in (0, 1], not {factor!r}")
        self._scale *= factor
        if self._scale < self._RESCALE_BELOW:
            self._rebuild()

    def add_importance(self, token: int, amount: float) -> None:
        """I_token += amount (amount >= 0)."""
        self.tier_of(token)
        if not amount >= 0:
            raise ValueError(f"importance increment must be >= 0, not {amount!r}")
        self._set(token, self._value[token] + amount / self._scale)

    def apply_scores(self, scores: dict[int, float], lam: float) -> None:
        """Eq. 7 for one step: I ← (1 − λ)·I + λ·S, touching only the tokens with S > 0."""
        if lam < 1:
            self.decay(1 - lam)
        else:
            self._zero_all()
        for token, s in scores.items():
            if s > 0:
                self.add_importance(token, lam * s)

    def step(self) -> list[Move]:
        """One decode step of Algorithm 2; returns the moves (two per swap)."""
        moves: list[Move] = []
        # Loop 1: DDR's least important <-> SSD's most important while x* + y* < x + y.
        while len(moves) < 2 * self.max_moves:
            is_h, is_d, is_s = self.tier_importance()
            if is_s == 0 or (is_h + is_d) / is_s >= self.x + self.y:
                break
            if not self._swap(MemoryTier.DDR, MemoryTier.SSD, moves):
                break
        # Loop 2: HBM's least important <-> DDR's most important while x*/y* < x/y.
        while len(moves) < 2 * self.max_moves:
            is_h, is_d, _ = self.tier_importance()
            if is_d == 0 or is_h / is_d >= self.x / self.y:
                break
            if not self._swap(MemoryTier.HBM, MemoryTier.DDR, moves):
                break
        return moves

    # -- internals -------------------------------------------------------------

    def _set(self, token: int, scaled: float) -> None:
        tier = self._tier[token]
        self._sum[tier] += scaled - self._value[token]
        self._value[token] = scaled
        self._version[token] += 1
        self._push(token)

    def _push(self, token: int) -> None:
        tier, v, ver = self._tier[token], self._value[token], self._version[token]
        heapq.heappush(self._min[tier], (v, token, ver))
        heapq.heappush(self._max[tier], (-v, token, ver))
        self.heap_ops += 2

    def _top(self, heap: list, tier: int):
        """The valid top entry's token, dropping stale ones (moved, removed or re-valued tokens)."""
        while heap:
            _, token, ver = heap[0]
            if self._tier.get(token) == tier and self._version.get(token) == ver:
                return token
            heapq.heappop(heap)
            self.heap_ops += 1
        return None

    def _swap(self, fast: int, slow: int, moves: list[Move]) -> bool:
        down = self._top(self._min[fast], fast)
        up = self._top(self._max[slow], slow)
        if down is None or up is None or self._value[up] <= self._value[down]:
            return False           # no swap would help: stop
        for token, src, dst in ((down, fast, slow), (up, slow, fast)):
            self._sum[src] -= self._value[token]
            self._sum[dst] += self._value[token]
            self._tier[token] = dst
            self._version[token] += 1
            self._push(token)
            moves.append(Move(token, src, dst))
        return True

    def _rebuild(self) -> None:
        """Fold the scale into the values and rebuild the heaps: O(n), rare."""
        for token in self._value:
            self._value[token] *= self._scale
        self._scale = 1.0
        self._sum = [0.0, 0.0, 0.0]
        self._min, self._max = [[], [], []], [[], [], []]
        for token, tier in self._tier.items():
            self._sum[tier] += self._value[token]
            self._version[token] += 1
            self._push(token)

    def _zero_all(self) -> None:
        for token in self._value:
            self._value[token] = 0.0
        self._rebuild()


def scheduler_update(scheduler: TierScheduler, tokens, scores, lam: float) -> list:
    """Fold a step's activated ``tokens``' ``scores`` in (Eq. 7) and run Algorithm 2; returns its moves."""
    scheduler.apply_scores(dict(zip(tokens.tolist(), scores.tolist())), lam)
    return scheduler.step()


def scheduler_step(scheduler: TierScheduler, context: int, tokens, scores, lam: float) -> list:
    """One decode step of a stream: admit the step's new token (the last of ``context``), then
    :func:`scheduler_update`; returns its moves."""
    scheduler.add(context - 1)
    return scheduler_update(scheduler, tokens, scores, lam)
