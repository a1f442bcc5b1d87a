"""``pam bench schedule``: host time of Eq. 7 + Algorithm 2 per decode step, 64 requests, 4k to 128k tokens.

A 128k-token trace of real q and k per request would cost more to score than
the scheduler costs to run, so the bench feeds each request's
:class:`host.scheduler.TierScheduler` a synthetic stream (``golden.traces.activations``) of the step's
*activated* tokens (the top ``sparsity`` of the context) and their scores,
shaped like the locality traces' realised attention:

* **locality**: the 4 sink tokens, the newest quarter of the activated budget
  (the recency window), and a persistent set of heavy hitters, of which a
  fraction ``drift`` is replaced each step by other tokens of the context;
  each token keeps a Pareto-distributed weight, so its score persists too;
* **control**: the same number of tokens, drawn afresh each step.

Each request has its own scheduler over three tiers sized as fractions of
its context (HBM 1/16, DDR 1/4, SSD the rest with room for the new tokens),
so a step's host time for the batch is the sum over requests. Requests are
built and timed one at a time (memory stays at one request's heaps), with
the locality and control streams of the same request run back to back.
Admission of the prompt is timed apart from the steps.

Each request runs through both schedulers side by side on the same stream:
the heap scheduler (:class:`host.scheduler.TierScheduler`, the reference)
and the array scheduler (:class:`host.array_scheduler.ArrayScheduler`); the
bench raises if they ever make different moves.
"""

from __future__ import annotations

import time

import numpy as np

from golden.traces.activations import SINKS, activated_stream
from host.array_scheduler import ArrayScheduler, array_scheduler_step
from host.scheduler import TierScheduler, scheduler_step
from hw.tierconfig import MemoryTier

__all__ = ["bench_schedule"]

TIER_FRACTIONS = (1 / 16, 1 / 4)       # HBM and DDR capacity as a fraction of the prompt; SSD takes the rest


def _run_request(rng, prompt, steps, warmup, sparsity, locality, x, y, lam, max_moves):
    capacities = (int(prompt * TIER_FRACTIONS[0]), int(prompt * TIER_FRACTIONS[1]))
    capacities += (prompt + steps + warmup - sum(capacities),)
    stream = list(activated_stream(rng, prompt, warmup + steps, sparsity, locality))
    scheduler = TierScheduler(capacities, x, y, max_moves)
    t0 = time.perf_counter()
    for token in range(prompt):
        scheduler.add(token)
    admit_s = time.perf_counter() - t0
    times, moves, ssd_ddr, work, contexts, heap_moves = [], [], [], [], [], []
    for step, (n, tokens, scores) in enumerate(stream):
        ops = scheduler.heap_ops
        t0 = time.perf_counter()
        step_moves = scheduler_step(scheduler, n, tokens, scores, lam)
        elapsed = time.perf_counter() - t0
        heap_moves.append([(m.token, m.src, m.dst) for m in step_moves])
        if step >= warmup:
            times.append(elapsed)
            moves.append(len(step_moves))
            ssd_ddr.append(sum(1 for m in step_moves if (m.src, m.dst) == (MemoryTier.SSD, MemoryTier.DDR)))
            work.append(scheduler.heap_ops - ops)
            contexts.append(n)
    counts = scheduler.counts()
    assert counts[MemoryTier.HBM] <= capacities[MemoryTier.HBM] and counts[MemoryTier.DDR] <= capacities[MemoryTier.DDR]
    del scheduler                          # each scheduler is timed with its own data in the caches
    arrays = ArrayScheduler(capacities, x, y, max_moves)
    arrays.add_range(prompt)
    array_times = []
    for step, (n, tokens, scores) in enumerate(stream):
        t0 = time.perf_counter()
        step_moves = array_scheduler_step(arrays, n, tokens, scores, lam)
        elapsed = time.perf_counter() - t0
        if [tuple(m) for m in step_moves.tolist()] != heap_moves[step]:
            raise AssertionError(f"the array scheduler's moves differ from the heap scheduler's at step {step} "
                                 f"(context {n}, locality {locality})")
        if step >= warmup:
            array_times.append(elapsed)
    return (admit_s, np.array(times), np.array(moves), np.array(ssd_ddr), np.array(work), np.array(contexts),
            np.array(array_times))


def bench_schedule(contexts=(4096, 32768, 131072), requests: int = 64, steps: int = 5, warmup: int = 3,
                   sparsity: float = 0.02, x: float = 8.0, y: float = 3.0, lam: float = 0.6,
                   max_moves: int = 256, seed: int = 1) -> dict:
    for field, value, low in (("requests", requests, 1), ("steps", steps, 1), ("warmup", warmup, 0),
                              ("max_moves", max_moves, 0)):
        if value < low:
            raise ValueError(f"{field} must be >= {low}, not {value}")
    if not 0 < sparsity <= 1:
        raise ValueError(f"sparsity must be in (0, 1], not {sparsity}")
    for context in contexts:
        if context < 64:
            raise ValueError(f"context must be >= 64 tokens, not {context}")
    rows = []
    for context in contexts:
        totals = {True: [], False: []}
        for request in range(requests):
            for locality in (True, False):
                rng = np.random.default_rng([seed, context, request])     # the same weights for both streams
                totals[locality].append(_run_request(rng, context, steps, warmup, sparsity, locality,
                                                     x, y, lam, max_moves))
        for locality, runs in totals.items():
            step_s = np.sum([r[1] for r in runs], axis=0)                # [steps]: the batch's host time per step
            array_s = np.sum([r[6] for r in runs], axis=0)
            moved = np.sum([r[2] for r in runs], axis=0)
            ssd_ddr = np.sum([r[3] for r in runs], axis=0)
            tokens = np.sum([r[5] for r in runs], axis=0)
            scored = requests * max(SINKS + 2, int(sparsity * context))
            rows.append({
                "context": context, "requests": requests, "locality": locality, "steps": steps,
                "step_ms_mean": 1e3 * float(step_s.mean()), "step_ms_max": 1e3 * float(step_s.max()),
                "admit_s": float(sum(r[0] for r in runs)),
                "scored_per_step": scored, "moves_per_step": float(moved.mean()),
                "moved_pct": 100 * float((moved / tokens).mean()),
                "ssd_to_ddr_pct": 100 * float((ssd_ddr / tokens).mean()),
                "heap_ops_per_step": float(np.sum([r[4] for r in runs], axis=0).mean()),
                "us_per_scored_or_moved": 1e6 * float(step_s.mean()) / (scored + float(moved.mean())),
                "array_step_ms_mean": 1e3 * float(array_s.mean()), "array_step_ms_max": 1e3 * float(array_s.max()),
                "array_us_per_scored_or_moved": 1e6 * float(array_s.mean()) / (scored + float(moved.mean())),
                "speedup": float(step_s.mean() / array_s.mean()) if array_s.mean() else None,
            })
    return {"requests": requests, "steps": steps, "warmup": warmup, "sparsity": sparsity, "x": x, "y": y,
            "lam": lam, "max_moves": max_moves, "seed": seed, "rows": rows}
