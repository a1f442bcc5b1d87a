"""Algorithm 2 and Eq. 7 on NumPy arrays: the decisions of :class:`host.scheduler.TierScheduler`, bit for bit,
at serving speed.

The heap scheduler stays the reference; this one makes the same moves in the same order for the same inputs
(``tests/host/test_array_scheduler.py`` replays seeded streams through both). It keeps every token's scaled
importance in one array and the tiers' sums as Python floats updated in the reference's order, so each loop
condition sees the same bits. What makes it fast is what a step has to look at:

* **Eq. 7** touches only the scored tokens (a vectorised add); the decay is one global scale, as in the
  reference, folded back into the values when it nears underflow.
* **Algorithm 2** swaps a fast tier's least important tokens with a slow tier's most important. Both lists are
  taken at once, sorted by (importance, token) as the reference's heaps order them, and the swaps a loop makes
  are read off cumulative sums of the tiers' importance (the reference's additions, in its order). A token
  moved by a loop never comes back into play in the same loop: once it could, the swap would not help, so the
  reference stops there too.
* **Where the candidates are.** A token that was never scored has importance exactly 0 and keeps it, so the
  least important tokens of a tier are its zero tokens, smallest id first, and the most important are among
  the tokens ever scored (few, under context locality). Each tier keeps its zero tokens in id order, with
  lazy deletion (a token that left the tier or was scored is skipped) and a short list of zero tokens moved
  in; the scored tokens are one list. A step therefore costs O(s + m + z) for s scored tokens, m moves and the
  scored tokens z of the tiers a loop looks at, never O(context).

Tokens are numbered 0, 1, 2, … in the order they are added, as a request's KV positions are.
"""

from __future__ import annotations

import numpy as np

from host.scheduler import TierScheduler, scheduler_parameters
from hw.tierconfig import MemoryTier

__all__ = ["ArrayScheduler", "array_scheduler_step"]


class ArrayScheduler:
    """:class:`host.scheduler.TierScheduler` on arrays; tokens must be added as 0, 1, 2, …

    Parameters
    ----------
    capacities : (int, int, int)
        Tokens each tier can hold (hard limits); their sum bounds the tokens ever added.
    x, y : float
        Targets IS_H : IS_D : IS_S = x : y : 1.
    max_moves : int
        Bound on swaps per step.
    """

    _RESCALE_BELOW = TierScheduler._RESCALE_BELOW      # the same rebuilds as the reference, at the same steps
    _COMPACT_INCOMING = 4096

    def __init__(self, capacities, x: float, y: float, max_moves: int = 256):
        self.capacities, self.x, self.y, self.max_moves = scheduler_parameters(capacities, x, y, max_moves)
        total = sum(self.capacities)
        self._value = np.zeros(total)                 # importance / scale
        self._tier = np.zeros(total, np.int8)
        self._scored = np.zeros(total, bool)          # ever scored: its value may be non-zero
        self._scored_ids = np.zeros(total, np.int64)  # the tokens ever scored, in the order they were
        self._n_scored = 0
        self._zeros = [np.zeros(total, np.int64) for _ in range(3)]   # per tier, zero tokens by id (lazy)
        self._zeros_from = [0, 0, 0]
        self._zeros_to = [0, 0, 0]
        self._incoming = [np.zeros(0, np.int64) for _ in range(3)]   # zero tokens moved in, by id
        self._n = 0
        self._scale = 1.0
        self._sum = [0.0, 0.0, 0.0]
        self._count = [0, 0, 0]

    # -- queries ------------------------------------------------------------

    def tier_of(self, token: int) -> int:
        if not 0 <= token < self._n:
            raise ValueError(f"token {token!r} is not placed")
        return int(self._tier[token])

    def tiers(self, tokens) -> np.ndarray:
        """The tiers of ``tokens`` (an array of placed tokens)."""
        return self._tier[np.asarray(tokens)]

    def importance(self, token: int) -> float:
        self.tier_of(token)
        return float(self._value[token]) * self._scale

    def counts(self) -> tuple[int, int, int]:
        return tuple(self._count)

    def tier_importance(self) -> tuple[float, float, float]:
        return tuple(max(s, 0.0) * self._scale / c if c else 0.0 for s, c in zip(self._sum, self._count))

    # -- changes --------------------------------------------------------------

    def add(self, token: int) -> int:
        """Place the next token (``token`` must be the number of tokens added so far), importance 0, in the
        fastest tier with room; return the tier."""
        if token != self._n:
            raise ValueError(f"tokens are added in order: expected token {self._n}, not {token!r}")
        for tier in MemoryTier:
            if self._count[tier] < self.capacities[tier]:
                self._tier[token] = tier
                self._count[tier] += 1
                self._zeros[tier][self._zeros_to[tier]] = token
                self._zeros_to[tier] += 1
                self._n += 1
                return tier
        raise ValueError(f"token {token!r} does not fit: every tier is full (capacities {self.capacities})")

    def add_range(self, count: int) -> None:
        """Add the next ``count`` tokens (a prompt), as ``count`` calls of :meth:`add`."""
        start, left = self._n, count
        if count > sum(self.capacities) - self._n:
            raise ValueError(f"{count} tokens do not fit: every tier is full (capacities {self.capacities})")
        for tier in MemoryTier:
            take = min(left, self.capacities[tier] - self._count[tier])
            if take <= 0:
                continue
            ids = np.arange(start, start + take)
            self._tier[ids] = tier
            self._zeros[tier][self._zeros_to[tier]:self._zeros_to[tier] + take] = ids
            self._zeros_to[tier] += take
            self._count[tier] += take
            start, left = start + take, left - take
        self._n = start

    def apply_scores(self, tokens: np.ndarray, scores: np.ndarray, lam: float) -> None:
        """Eq. 7 for one step, I <- (1 - lam) I + lam S, for distinct ``tokens`` with scores ``scores``."""
        if lam < 1:
            if not 0 < 1 - lam <= 1:
                raise ValueError(f"decay factor must be in (0, 1], not {1 - lam!r}")
            self._scale *= 1 - lam
            if self._scale < self._RESCALE_BELOW:
                self._rebuild()
        else:
            self._value[:self._n] = 0.0
            self._rebuild()
        tokens = np.asarray(tokens, np.int64)
        scores = np.asarray(scores, np.float64)
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self._n):
            raise ValueError(f"scored tokens must be placed (0..{self._n - 1})")
        if not scores.size or not scores.min() >= 0:
            if scores.size:
                raise ValueError("importance increments must be >= 0")
            return
        live = scores > 0
        if not live.all():
            tokens, scores = tokens[live], scores[live]
        if not tokens.size:
            return
        old = self._value[tokens]
        new = old + (lam * scores) / self._scale
        self._value[tokens] = new
        delta = new - old
        tiers = self._tier[tokens]
        for tier in MemoryTier:          # the reference adds the deltas one by one, in token order
            d = delta[tiers == tier]
            if d.size:
                self._sum[tier] = float(np.concatenate(([self._sum[tier]], d)).cumsum()[-1])
        fresh = tokens[~self._scored[tokens]]
        self._scored[fresh] = True
        self._scored_ids[self._n_scored:self._n_scored + fresh.size] = fresh
        self._n_scored += fresh.size

    def step(self) -> np.ndarray:
        """One decode step of Algorithm 2; returns the moves as rows (token, src, dst), two per swap, in the
        reference's order."""
        moves = []
        budget = self.max_moves
        for fast, slow in ((MemoryTier.DDR, MemoryTier.SSD), (MemoryTier.HBM, MemoryTier.DDR)):
            if budget == 0 or not self._wants(fast, slow, *self.tier_importance()):
                continue
            done = self._swaps(fast, slow, budget)
            budget -= done.shape[0] // 2
            moves.append(done)
        return np.concatenate(moves) if moves else np.zeros((0, 3), np.int64)

    # -- internals -------------------------------------------------------------

    def _wants(self, fast: int, slow: int, is_h, is_d, is_s):
        """The reference's loop condition on tier importances (floats, or arrays over candidate swap counts)."""
        is_h, is_d, is_s = (np.asarray(v, np.float64) for v in (is_h, is_d, is_s))     # x/0 is inf, not an error
        with np.errstate(divide="ignore", invalid="ignore"):
            if (fast, slow) == (MemoryTier.DDR, MemoryTier.SSD):
                return (is_s != 0) & ((is_h + is_d) / is_s < self.x + self.y)
            return (is_d != 0) & (is_h / is_d < self.x / self.y)

    def _importances_after(self, fast: int, slow: int, fast_sums: np.ndarray, slow_sums: np.ndarray) -> tuple:
        """IS per tier, as the reference computes it, with the fast and slow tiers' sums taken from arrays."""
        sums = list(self._sum)
        sums[fast], sums[slow] = fast_sums, slow_sums
        return tuple(np.maximum(sums[t], 0.0) * self._scale / self._count[t] if self._count[t] else 0.0
                     for t in MemoryTier)

    def _swaps(self, fast: int, slow: int, budget: int) -> np.ndarray:
        down = self._least(fast, budget)
        up = self._most(slow, budget)
        k = min(down.size, up.size)
        down, up = down[:k], up[:k]
        vd, vu = self._value[down], self._value[up]
        helps = vu > vd
        # Sums after j swaps, j = 0..k: the reference's sequence -v_down, +v_up (fast), +v_down, -v_up (slow).
        fast_steps = np.empty(2 * k + 1)
        slow_steps = np.empty(2 * k + 1)
        fast_steps[0], slow_steps[0] = self._sum[fast], self._sum[slow]
        fast_steps[1::2], fast_steps[2::2] = -vd, vu
        slow_steps[1::2], slow_steps[2::2] = vd, -vu
        fast_sums, slow_sums = np.cumsum(fast_steps)[::2], np.cumsum(slow_steps)[::2]
        go = self._wants(fast, slow, *self._importances_after(fast, slow, fast_sums[:k], slow_sums[:k])) & helps
        n = int(np.argmin(go)) if not go.all() else k
        self._sum[fast], self._sum[slow] = float(fast_sums[n]), float(slow_sums[n])
        down, up = down[:n], up[:n]
        self._tier[down], self._tier[up] = slow, fast
        for tokens, tier in ((down, slow), (up, fast)):
            arrived = tokens[~self._scored[tokens]]
            if arrived.size:
                self._incoming[tier] = _sorted_distinct(np.concatenate((self._incoming[tier], arrived)))
        moves = np.empty((2 * n, 3), np.int64)
        moves[0::2, 0], moves[0::2, 1], moves[0::2, 2] = down, fast, slow
        moves[1::2, 0], moves[1::2, 1], moves[1::2, 2] = up, slow, fast
        return moves

    def _zero_tokens(self, tier: int, m: int) -> np.ndarray:
        """Up to ``m`` tokens of ``tier`` whose importance is 0, smallest id first."""
        zeros, start, end = self._zeros[tier], self._zeros_from[tier], self._zeros_to[tier]
        found, pos, window = [], start, max(2 * m, 64)
        have = 0
        while pos < end and have < m:
            chunk = zeros[pos:pos + window]
            valid = (self._tier[chunk] == tier) & ~self._scored[chunk]
            ok = chunk[valid]
            if pos == start:                           # skip the stale head for good: re-entries come in below
                start = pos + (int(valid.argmax()) if ok.size else chunk.size)
            found.append(ok)
            have += ok.size
            pos += window
            window *= 2
        self._zeros_from[tier] = start
        incoming = self._incoming[tier]
        if incoming.size:
            incoming = incoming[(self._tier[incoming] == tier) & ~self._scored[incoming]]
            self._incoming[tier] = incoming
            if incoming.size > self._COMPACT_INCOMING:
                self._compact(tier)
                return self._zero_tokens(tier, m)
            found.append(incoming[:m])
        if not found:
            return np.zeros(0, np.int64)
        return _sorted_distinct(np.concatenate(found))[:m]

    def _scored_in(self, tier: int) -> np.ndarray:
        """The tokens of ``tier`` ever scored: exactly those whose importance is not 0 (a rebuild that
        underflows a value to 0 takes the token off this list)."""
        ids = self._scored_ids[:self._n_scored]
        return ids[self._tier[ids] == tier]

    def _least(self, tier: int, m: int) -> np.ndarray:
        """The ``m`` least important tokens of ``tier`` by (importance, token)."""
        zeros = self._zero_tokens(tier, m)
        if zeros.size == m:
            return zeros
        rest = self._scored_in(tier)
        rest = rest[np.lexsort((rest, self._value[rest]))][:m - zeros.size]
        return np.concatenate([zeros, rest])

    def _most(self, tier: int, m: int) -> np.ndarray:
        """The ``m`` most important tokens of ``tier`` by (−importance, token)."""
        ids = self._scored_in(tier)
        if ids.size > m:
            values = self._value[ids]
            cut = np.partition(values, ids.size - m)[ids.size - m]      # the m-th largest value
            ids = ids[values >= cut]
        ids = ids[np.lexsort((ids, -self._value[ids]))][:m]
        if ids.size < m:
            ids = np.concatenate([ids, self._zero_tokens(tier, m - ids.size)])
        return ids

    def _compact(self, tier: int) -> None:
        """Rebuild a tier's zero list from its tokens: O(context), rare."""
        ids = np.flatnonzero((self._tier[:self._n] == tier) & (self._value[:self._n] == 0))
        self._zeros[tier][:ids.size] = ids
        self._zeros_from[tier], self._zeros_to[tier] = 0, ids.size
        self._incoming[tier] = np.zeros(0, np.int64)

    def _rebuild(self) -> None:
        """Fold the scale into the values, sum the tiers in token order, rebuild the lists: O(n), rare."""
        values = self._value[:self._n]
        values *= self._scale
        self._scale = 1.0
        tiers = self._tier[:self._n]
        for tier in MemoryTier:
            self._sum[tier] = float(np.cumsum(np.concatenate(([0.0], values[tiers == tier])))[-1])
            self._compact(tier)
        scored = np.flatnonzero(values != 0)
        self._scored[:] = False
        self._scored[scored] = True
        self._scored_ids[:scored.size] = scored
        self._n_scored = scored.size


def _sorted_distinct(ids: np.ndarray) -> np.ndarray:
    """``np.unique`` for a short int array, without its hashing set-up (tens of microseconds a call)."""
    ids = np.sort(ids)
    return ids[np.concatenate(([True], ids[1:] != ids[:-1]))] if ids.size > 1 else ids


def array_scheduler_step(scheduler: ArrayScheduler, context: int, tokens, scores, lam: float) -> np.ndarray:
    """:func:`host.scheduler.scheduler_step` for the array scheduler: admit the step's new token, Eq. 7, Algorithm
    2; returns the moves as rows (token, src, dst)."""
    scheduler.add(context - 1)
    scheduler.apply_scores(tokens, scores, lam)
    return scheduler.step()

