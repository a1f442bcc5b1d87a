"""The array scheduler makes the heap scheduler's moves, bit for bit, on seeded streams (issue 15, item 7)."""

import os

import numpy as np
import pytest

from golden.traces.activations import activated_stream
from host.array_scheduler import ArrayScheduler, array_scheduler_step
from host.scheduler import TierScheduler, scheduler_step

SEED = int(os.environ.get("PAM_SEED", "20261207"))


def _replay(prompt, steps, fractions, x, y, max_moves, lam, locality, seed, sparsity=0.05):
    caps = [int(prompt * f) for f in fractions]
    caps.append(prompt + steps - sum(caps))
    heap, array = TierScheduler(tuple(caps), x, y, max_moves), ArrayScheduler(tuple(caps), x, y, max_moves)
    for token in range(prompt):
        heap.add(token)
    array.add_range(prompt)
    rng = np.random.default_rng(seed)
    total = 0
    for j, (context, tokens, scores) in enumerate(activated_stream(rng, prompt, steps, sparsity, locality)):
        ref = [(m.token, m.src, m.dst) for m in scheduler_step(heap, context, tokens, scores, lam)]
        got = array_scheduler_step(array, context, tokens, scores, lam)
        assert [tuple(r) for r in got.tolist()] == ref, f"step {j}: the moves differ"
        assert array.tier_importance() == heap.tier_importance(), f"step {j}"
        total += len(ref)
    assert array.counts() == heap.counts()
    assert [array.tier_of(t) for t in range(prompt + steps)] == [heap.tier_of(t) for t in range(prompt + steps)]
    return total


@pytest.mark.parametrize("locality", [True, False])
@pytest.mark.parametrize("case", [
    dict(prompt=3000, steps=40, fractions=(1 / 16, 1 / 4), x=8.0, y=3.0, max_moves=256, lam=0.6),
    dict(prompt=2000, steps=30, fractions=(0.3, 0.3), x=40.0, y=6.0, max_moves=7, lam=0.6),      # budget binds
    dict(prompt=500, steps=200, fractions=(0.05, 0.2), x=8.0, y=3.0, max_moves=64, lam=0.9),      # rescales
    dict(prompt=800, steps=20, fractions=(0.1, 0.2), x=8.0, y=3.0, max_moves=64, lam=1.0),        # no memory
    dict(prompt=400, steps=30, fractions=(0.0, 0.5), x=8.0, y=3.0, max_moves=64, lam=0.6),        # empty HBM
    dict(prompt=300, steps=30, fractions=(0.2, 0.0), x=8.0, y=3.0, max_moves=64, lam=0.6),        # empty DDR
])
def test_the_array_scheduler_makes_the_heap_scheduler_s_moves(case, locality):
    print(f"seed {SEED}")
    moves = _replay(**case, locality=locality, seed=SEED)
    print(f"{moves} moves, all equal")
    assert moves > 0 or case["fractions"][1] == 0          # with no DDR no loop can swap


def test_bad_calls_are_refused():
    s = ArrayScheduler((2, 2, 2), 8.0, 3.0)
    with pytest.raises(ValueError, match="expected token 0, not 5"):
        s.add(5)
    s.add_range(6)
    with pytest.raises(ValueError, match="does not fit"):
        s.add(6)
    with pytest.raises(ValueError, match="scored tokens must be placed"):
        s.apply_scores(np.array([9]), np.array([1.0]), 0.6)
    with pytest.raises(ValueError, match="capacities must be"):
        ArrayScheduler((1, 2), 8.0, 3.0)


def test_ties_are_broken_as_the_heaps_break_them():
    """Equal scores give equal importances: both pick the smallest token id first, in both orders."""
    prompt, steps = 600, 25
    caps = (60, 140, prompt + steps - 200)
    heap, array = TierScheduler(caps, 8.0, 3.0, 32), ArrayScheduler(caps, 8.0, 3.0, 32)
    for token in range(prompt):
        heap.add(token)
    array.add_range(prompt)
    rng = np.random.default_rng(SEED)
    print(f"seed {SEED}")
    total = 0
    for step in range(steps):
        context = prompt + step + 1
        tokens = np.sort(rng.choice(context, 40, replace=False))
        scores = np.full(40, 0.025)                       # every scored token ties with the others
        ref = [(m.token, m.src, m.dst) for m in scheduler_step(heap, context, tokens, scores, 0.5)]
        got = array_scheduler_step(array, context, tokens, scores, 0.5)
        assert [tuple(r) for r in got.tolist()] == ref, f"step {step}"
        total += len(ref)
    assert total > 20
