"""End to end under cocotb + Verilator: a KV trace placed over HBM, DDR and SSD devices, one decode step
through the host command interface, the system top's outputs bit for bit against the golden hardware model
and within the float64 bound.

One build per format (cached in build/sim/). To keep each build to minutes on 2 cores, every PU here has 4
lanes (HBM and SSD narrowed from 16; ``sim.system_job.SMALL_DEVICES``) and head_dim is 16; the 16-lane PU is
covered by tests/test_pu_verilator.py. The SSD device keeps its channel (two dies sharing 2.4 GB/s) but
reads a page in 3 us instead of 30 us, which keeps every step to thousands of cycles (`pam bench device`
runs the full tR).
"""

import dataclasses

import numpy as np
import pytest

from hw.normalize import ERROR_EMPTY
from sim.system_job import SMALL_DEVICES, SystemSpec, count_by_device, spread_placement, system_step
from sim.trace import generate_trace

HEAD_DIM, GROUP = 16, 2
DEVICES = (*SMALL_DEVICES[:2], dataclasses.replace(SMALL_DEVICES[2], tR=3000))
PLACEMENTS = {                                   # (device, bank group, bank) per token
    "spread": spread_placement(SystemSpec(DEVICES, "fp16", HEAD_DIM, GROUP), 23).coords[:, [0, 2, 3]],
    "one-token-per-device": [(0, 0, 1), (1, 1, 0), (2, 0, 0)],
    "hbm-and-ssd-empty": [(1, 0, 0)] * 5 + [(1, 1, 0)] * 2,
    "lopsided": [(2, 0, 1)] * 70 + [(0, 0, 0)] * 3 + [(1, 1, 0)],     # the SSD die reads two pages
}


def decode_step(fmt, coords, trace_seed, **kwargs):
    spec = SystemSpec(DEVICES, fmt, HEAD_DIM, GROUP)
    trace = generate_trace(tokens=max(len(coords), 1), q_heads=GROUP, kv_heads=1, head_dim=HEAD_DIM, dtype=fmt,
                           dist="heavy", seed=trace_seed)
    return system_step(spec, trace, spec.placement(coords), **kwargs)


def check(step, seed):
    assert all(code == 0 for _, code in step.run.statuses), f"seed {seed}: {step.run.statuses}"
    assert [o for o, _ in step.run.outputs] == [[int(x) for x in row] for row in step.expected], f"seed {seed}"
    assert step.bit_exact and step.flags_clear
    assert step.max_rel_err <= step.bound, f"{step.max_rel_err:.3g} > {step.bound:.3g}, seed {seed}"


@pytest.mark.verilator
@pytest.mark.parametrize("fmt", ["fp16", "bf16"])
@pytest.mark.parametrize("name", list(PLACEMENTS))
def test_decode_step_on_the_system_top_is_bit_exact(fmt, name, seed):
    back_pressure = name in ("spread", "lopsided")
    step = decode_step(fmt, PLACEMENTS[name], seed, seed=seed if back_pressure else None)
    print(f"{fmt} {name}: tokens per bank {count_by_device(step.spec, step.placement)}, {step.run.cycles} cycles, "
          f"back-pressure {back_pressure}, seed {seed}")
    check(step, seed)


@pytest.mark.verilator
def test_reset_in_the_middle_of_a_decode_step_then_a_correct_step(seed):
    clean = decode_step("fp16", PLACEMENTS["spread"], seed)
    pu = clean.run.activity["pu"]
    reset_at = (pu[0][0] + pu[0][1]) // 2                 # the HBM PUs are at work
    step = decode_step("fp16", PLACEMENTS["spread"], seed, reset_at=reset_at)
    check(step, seed)
    assert step.run.cycles == clean.run.cycles


@pytest.mark.verilator
def test_a_step_with_no_tokens_anywhere_flags_the_empty_sum(seed):
    spec = SystemSpec(DEVICES, "bf16", HEAD_DIM, GROUP)
    trace = generate_trace(tokens=1, q_heads=GROUP, kv_heads=1, head_dim=HEAD_DIM, dtype="bf16", seed=seed)
    step = system_step(spec, trace, spec.placement(np.zeros((0, 3), np.int64)), step=0)
    assert [e for _, e in step.run.outputs] == [ERROR_EMPTY] * GROUP
