"""End to end under cocotb + Verilator: a KV trace placed over HBM, DDR and SSD devices, one decode step
through the host command interface, the system top's outputs bit for bit against the golden hardware model
and within the float64 bound.

One build per format (cached in build/sim/). To keep each build to minutes on 2 cores, every PU here has 4
lanes (HBM and SSD narrowed from 16; ``sim.runs.system.SMALL_DEVICES``) and head_dim is 32; the 16-lane PU is
covered by tests/test_pu_verilator.py. The SSD device keeps its channel (two dies sharing 2.4 GB/s) but
reads a page in 3 us instead of 30 us, which keeps every step to thousands of cycles (`pam bench device`
runs the full tR).
"""

import numpy as np
import pytest

from hw.normalize import ERROR_EMPTY
from sim.calibrate import calibrate_system
from sim.runs.driver import drive_system
from golden.traces.locality import generate_locality_trace
from sim.runs.system import QUICK_DEVICES, SystemSpec, count_by_device, spread_placement, system_step
from perf.node import scaled_down_attention_cycles
from sim.testbench.base import PAUSE_MATRIX
from golden.traces.format import generate_trace

HEAD_DIM, GROUP = 32, 2
DEVICES = QUICK_DEVICES
PLACEMENTS = {                                   # (device, bank group, bank) per token
    "spread": spread_placement(SystemSpec(DEVICES, "fp16", HEAD_DIM, GROUP), 23).coords[:, [0, 2, 3]],
    "one-token-per-device": [(0, 0, 1), (1, 1, 0), (2, 0, 0)],
    "hbm-and-ssd-empty": [(1, 0, 0)] * 5 + [(1, 1, 0)] * 2,
    "lopsided": [(2, 0, 1)] * 40 + [(0, 0, 0)] * 3 + [(1, 1, 0)],     # the SSD die reads two pages
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
    """Each placement under one case of the idle × back-pressure matrix, so every case runs in both formats."""
    pauses = list(PAUSE_MATRIX)[list(PLACEMENTS).index(name)]
    step = decode_step(fmt, PLACEMENTS[name], seed, seed=seed, pauses=PAUSE_MATRIX[pauses])
    print(f"{fmt} {name}: tokens per bank {count_by_device(step.spec, step.placement)}, {step.run.cycles} cycles, "
          f"{pauses}, seed {seed}")
    check(step, seed)


@pytest.mark.verilator
def test_the_scoreboard_names_the_first_wrong_output_of_the_system_top(seed, monkeypatch):
    """The golden answer altered in lane 7 of query head 1: the run stops at that output, named."""
    import sim.runs.system as job
    clean = decode_step("fp16", PLACEMENTS["spread"], seed)
    real = job.system_golden

    def altered(*args):
        want = real(*args).copy()
        want[1, 7] ^= 1
        return want
    monkeypatch.setattr(job, "system_golden", altered)
    step = decode_step("fp16", PLACEMENTS["spread"], seed)
    print(step.run.mismatch)
    assert not step.bit_exact
    assert step.run.mismatch == (f"system_job: output 1 at cycle {clean.run.output_cycles[1]}: REDUCE 0, "
                                 "query head 1: O differs at 1 lanes [7], error flags 0 (expected 0)")


@pytest.mark.verilator
def test_reset_in_the_middle_of_a_decode_step_then_a_correct_step(seed):
    clean = decode_step("fp16", PLACEMENTS["spread"], seed)
    pu = clean.run.activity()[0]["pu"]
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


@pytest.mark.verilator
def test_the_host_driver_places_and_migrates_a_request_on_the_system_top(seed):
    """Issue 6, item 7: the driver's placement, appends and migrations, played through the command
    interface over three decode steps in one simulation; every step bit-exact. The request gets 32 token
    slots in HBM and in DDR, so its 100-token prompt reaches the SSD."""
    trace = generate_locality_trace(prompt=100, steps=3, q_heads=GROUP, kv_heads=1, head_dim=HEAD_DIM, seed=seed)
    job = drive_system(SystemSpec(DEVICES, "fp16", HEAD_DIM, GROUP), trace, steps=3, rows=(8, 2, 4), seed=seed)
    moved = [r.moves for r in job.reports]
    print(f"seed {seed}: moves per step {moved}, tokens per tier {[r.tokens_per_tier for r in job.reports]}, "
          f"columns written {job.writes}, cycles per step {job.step_cycles()}")
    assert all(code == 0 for _, code in job.run.statuses), f"seed {seed}"
    assert all(job.bit_exact), f"seed {seed}: bit-exact per step {job.bit_exact}"
    assert max(job.max_rel_err) <= job.bound
    assert all(n > 0 for n in job.reports[0].tokens_per_tier)
    assert sum(moved[:-1]) > 0, f"seed {seed}: no migration between the steps that ran"
    assert all(w < job.writes[0] for w in job.writes[1:])       # later steps rewrite only what changed


@pytest.mark.verilator
def test_system_model_attention_time_agrees_with_the_rtl(seed):
    """The system model, calibrated on this top with 32 and 64 tokens in every bank, predicts the attention time
    of an uneven placement it was not calibrated on (SSD dies with three and two pages) within 2%. Attention
    here is the longest device's PU span plus the reduction tail after the last PU: the host's KV writes,
    which start the devices one after another, are not attention."""
    spec = SystemSpec(DEVICES, "fp16", HEAD_DIM, GROUP)
    calibration = calibrate_system(spec, seed=seed)
    counts = [[48, 20], [40, 60], [96, 64]]
    coords = [(d, i // dev.banks, i % dev.banks) for d, dev in enumerate(DEVICES)
              for i, n in enumerate(counts[d]) for _ in range(n)]
    step = decode_step("fp16", coords, seed)
    check(step, seed)
    figures = step.figures()
    rtl = max(dev["pu_span"] for dev in figures["devices"]) + figures["tail_cycles"]
    model = scaled_down_attention_cycles(calibration, spec, count_by_device(spec, step.placement))
    print(f"calibration (cycles/token, fixed): {[(e['tier'], e['cycles_per_token'], e['fixed_cycles']) for e in calibration['pu']]}")
    print(f"PU spans {[d['pu_span'] for d in figures['devices']]}, tail {figures['tail_cycles']} "
          f"(System.tail_bounds {spec.build().tail_bounds()}): RTL {rtl} cycles, "
          f"model {model:.0f} ({100 * (model / rtl - 1):+.2f}%), seed {seed}")
    assert model == pytest.approx(rtl, rel=0.02)
    low, high = spec.build().tail_bounds()
    assert low <= figures["tail_cycles"] <= high, f"tail {figures['tail_cycles']} outside [{low}, {high}], seed {seed}"
