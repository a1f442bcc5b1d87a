"""Reduction unit and normalise stage under amaranth.sim: bit-exact to golden ru_merge and finalize."""

import numpy as np
import pytest

from golden.formats import BF16, FP16, FP32
from golden.hwmodel import HwConfig, bank_partial, finalize, identity_hw, prescale_query, ru_merge
from golden.pamattention import Partial
from hw.normalize import ERROR_EMPTY, ERROR_OVERFLOW, Normalize
from hw.ru import RU
from sim.pysim.ru import partial_payload, run_normalize, run_ru
from sim.pysim.streams import pattern
from golden.traces.format import generate_trace

LANES, HEAD_DIM = 4, 16


def bank_partials(fmt, counts, seed, group=1):
    """Golden PU partials of one head group over banks holding ``counts`` tokens (0 gives the identity)."""
    cfg = HwConfig(fmt, FP32, LANES, 4)
    tr = generate_trace(tokens=max(sum(counts), 1), q_heads=group, kv_heads=1, head_dim=HEAD_DIM,
                        dtype=fmt.name, dist="heavy", seed=seed)
    q = prescale_query(tr.q[0], fmt)
    bounds = np.cumsum([0, *counts])
    return cfg, [bank_partial(q, tr.k[a:b, 0], tr.v[a:b, 0], cfg) for a, b in zip(bounds, bounds[1:])]


def as_tuple(part: Partial, g=0):
    return int(part.m[g]), int(part.l[g]), [int(x) for x in part.o[g]]


@pytest.mark.parametrize("fmt", [FP16, BF16], ids=lambda f: f.name)
@pytest.mark.parametrize("counts", [[5, 3, 9], [0, 4], [0, 0, 0], [7], [], [2, 0, 6, 1]],
                         ids=lambda c: "x".join(map(str, c)) or "none")
def test_ru_matches_golden_merge(fmt, counts, seed):
    cfg, parts = bank_partials(fmt, counts, seed)
    ru = RU(fmt, FP32, LANES, HEAD_DIM)
    got, cycles, busy = run_ru(ru, [[partial_payload(p, 0) for p in parts]])
    want = ru_merge(parts, cfg) if parts else identity_hw((1,), HEAD_DIM, cfg)
    assert got[0] == as_tuple(want), f"seed {seed}"
    assert cycles == ru.cycles(len(parts))
    assert busy == ru.cycles(len(parts)) - 2                 # busy = merging: 16 + C cycles per input


def test_ru_back_to_back_commands_with_idle_inputs_and_backpressure(seed):
    jobs, wants = [], []
    for i, counts in enumerate([[3, 5], [], [0, 2, 4], [6]]):
        cfg, parts = bank_partials(FP16, counts, seed + i)
        jobs.append([partial_payload(p, 0) for p in parts])
        wants.append(as_tuple(ru_merge(parts, cfg)) if parts else as_tuple(identity_hw((1,), HEAD_DIM, cfg)))
    ru = RU(FP16, FP32, LANES, HEAD_DIM)
    got, _, busy = run_ru(ru, jobs, inp_valid=pattern("random", seed), out_ready=pattern("random", seed + 1))
    assert got == wants, f"seed {seed}"
    # busy counts merging only, not waiting for an input or for the output to be taken
    assert busy == sum(ru.cycles(len(job)) - 2 for job in jobs), f"seed {seed}"


@pytest.mark.parametrize("fmt", [FP16, BF16], ids=lambda f: f.name)
def test_normalize_matches_golden_finalize(fmt, seed):
    cfg, parts = bank_partials(fmt, [6, 3], seed, group=3)
    top = ru_merge(parts, cfg)
    unit = Normalize(fmt, FP32, LANES, HEAD_DIM)
    got, cycles = run_normalize(unit, [partial_payload(top, g) for g in range(3)],
                                out_ready=pattern("random", seed))
    want = finalize(top, cfg)
    for g in range(3):
        assert got[g] == ([int(x) for x in want[g]], 0), f"seed {seed} head {g}"
    single, cycles = run_normalize(unit, [partial_payload(top, 0)])
    assert cycles == unit.cycles()


def test_normalize_flags_what_golden_rejects():
    cfg = HwConfig(FP16, FP32, LANES, 4)
    empty = identity_hw((1,), HEAD_DIM, cfg)
    huge = Partial(np.zeros(1, np.int64), np.array([FP32.from_float(np.array(1e6))], np.int64),
                   np.zeros((1, HEAD_DIM), np.int64))
    with pytest.raises(ValueError):
        finalize(empty, cfg)
    with pytest.raises(OverflowError):
        finalize(huge, cfg)
    got, _ = run_normalize(Normalize(FP16, FP32, LANES, HEAD_DIM), [partial_payload(empty, 0),
                                                                      partial_payload(huge, 0)])
    assert [e for _, e in got] == [ERROR_EMPTY, ERROR_OVERFLOW]


@pytest.mark.parametrize("cls", [RU, Normalize])
@pytest.mark.parametrize("lanes,head_dim,match", [(3, 12, "power of two"), (4, 10, "multiple of lanes")])
def test_constructor_errors(cls, lanes, head_dim, match):
    with pytest.raises(ValueError, match=match):
        cls(FP16, FP32, lanes, head_dim)
