"""The processing unit under amaranth.sim: partials bit-exact to golden.hwmodel.pu_partials."""

from fractions import Fraction

import numpy as np
import pytest

from golden.formats import BF16, FP16, FP32
from golden.hwmodel import HwConfig, bank_partial, prescale_query
from hw.pu import PU
from hw.puclock import ClockedPU, clock_ratio
from sim.pysim.pu import run_pu
from sim.pysim.streams import pattern
from golden.traces.format import generate_trace


def job(fmt, head_dim, group, tokens, seed):
    tr = generate_trace(tokens=max(tokens, 1), q_heads=group, kv_heads=1, head_dim=head_dim, dtype=fmt.name,
                        dist="heavy", seed=seed)
    return prescale_query(tr.q[0], fmt), tr.k[:tokens, 0].astype(np.int64), tr.v[:tokens, 0].astype(np.int64)


def golden(fmt, lanes, block, q, k, v):
    part = bank_partial(q, k, v, HwConfig(fmt, FP32, lanes, block))
    return [(int(part.m[g]), int(part.l[g]), [int(x) for x in part.o[g]]) for g in range(len(q))]


def check(fmt, lanes, head_dim, group, block, jobs, clock=None, **flow):
    """``clock``: (pu_mhz, memory_mhz) runs the PU through hw.puclock.ClockedPU."""
    unit = PU(fmt, FP32, lanes, head_dim, group, block)
    got, cycles = run_pu(ClockedPU(unit, *clock) if clock else unit, jobs, lanes, block, **flow)
    for i, (q, k, v) in enumerate(jobs):
        want = golden(fmt, lanes, block, q, k, v)
        for g, (a, b) in enumerate(zip(got[i], want)):
            assert a[0] == b[0], f"job {i} head {g}: m 0x{a[0]:08x} != 0x{b[0]:08x}"
            assert a[1] == b[1], f"job {i} head {g}: l 0x{a[1]:08x} != 0x{b[1]:08x}"
            bad = [j for j, (x, y) in enumerate(zip(a[2], b[2])) if x != y]
            assert not bad, f"job {i} head {g}: O differs at {bad[:5]}"
    return cycles


B = 4


@pytest.mark.parametrize("tokens", [0, 1, B - 1, B, B + 1, 3 * B + 2])
@pytest.mark.parametrize("group", [1, 5])
def test_token_counts_and_groups_fp16(tokens, group, seed):
    check(FP16, 4, 16, group, B, [job(FP16, 16, group, tokens, seed)])


def test_bf16_group_8(seed):
    check(BF16, 4, 16, 8, B, [job(BF16, 16, 8, 2 * B + 1, seed)])


def test_w16_head_dim_64_with_padded_passes(seed):
    """3 tokens, G = 1: a K pass is shorter than the adder latency, so the PU pads it."""
    check(FP16, 16, 64, 1, 8, [job(FP16, 64, 1, 3, seed)])


def test_idle_input_backpressure_and_back_to_back_commands(seed):
    jobs = [job(FP16, 16, 2, 9, seed), job(FP16, 16, 2, 0, seed + 1), job(FP16, 16, 2, 5, seed + 2)]
    check(FP16, 4, 16, 2, B, jobs, kv_valid=pattern("random", seed), part_ready=pattern("random", seed + 1))


@pytest.mark.parametrize("kwargs,match", [({"lanes": 6}, "power of two"),
                                          ({"head_dim": 8}, "at least 4 chunks"),
                                          ({"block_tokens": 0}, "must be >= 1")])
def test_constructor_errors(kwargs, match):
    args = {"fmt": FP16, "acc": FP32, "lanes": 4, "head_dim": 16, "max_group": 1, "block_tokens": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        PU(**args)


@pytest.mark.parametrize("lanes,head_dim,group,tokens,block",
                         [(4, 16, 1, 9, 4), (4, 16, 3, 2, 4), (16, 64, 2, 5, 8), (4, 16, 1, 0, 4)])
def test_cycles_match_the_formula(lanes, head_dim, group, tokens, block, seed):
    pu = PU(FP16, FP32, lanes, head_dim, group, block)
    _, measured = run_pu(pu, [job(FP16, head_dim, group, tokens, seed)], lanes, block)
    # The bench counts from its first clock edge, one before the command transfers.
    assert measured == pu.cycles(tokens, group) + 1, (measured, pu.cycles(tokens, group))


@pytest.mark.parametrize("clock", [(666, 1300), (500, 1600), (1000, 1000)])
def test_a_pu_on_its_own_clock_is_bit_exact_under_idle_inputs_and_back_pressure(clock, seed):
    jobs = [job(FP16, 16, 2, 9, seed), job(FP16, 16, 2, 0, seed + 1), job(FP16, 16, 2, 5, seed + 2)]
    check(FP16, 4, 16, 2, B, jobs, clock=clock, kv_valid=pattern("random", seed),
          part_ready=pattern("random", seed + 1))


@pytest.mark.parametrize("clock", [(666, 1300), (500, 1600), (1, 3)])
@pytest.mark.parametrize("lanes,head_dim,group,tokens,block", [(4, 16, 1, 9, 4), (4, 16, 3, 2, 4), (16, 64, 2, 5, 8)])
def test_a_pu_on_its_own_clock_takes_its_cycles_times_the_clock_ratio(clock, lanes, head_dim, group, tokens, block,
                                                                      seed):
    """The bare PU's last partial comes at the bench's cycle PU.cycles + 1 (its first edge comes before the
    command); clocked at r = pu_mhz/memory_mhz, PU cycle k is memory cycle ceil(k / r) - 1, so that partial
    comes at ceil((PU.cycles + 1) / r), and one memory cycle later through the output register."""
    pu = PU(FP16, FP32, lanes, head_dim, group, block)
    _, measured = run_pu(ClockedPU(pu, *clock), [job(FP16, head_dim, group, tokens, seed)], lanes, block)
    ratio = clock_ratio(*clock)
    expected = -(-(pu.cycles(tokens, group) + 1) * ratio.denominator // ratio.numerator) + 1
    print(f"{clock}: {pu.cycles(tokens, group)} PU cycles, {measured} memory cycles, expected {expected}")
    assert measured == expected


def test_the_clock_ratio_is_exact_and_checked():
    assert clock_ratio(666, 1300) == Fraction(333, 650) and clock_ratio(500, 1600) == Fraction(5, 16)
    with pytest.raises(ValueError, match="pu_mhz must be in"):
        clock_ratio(1700, 1600)
