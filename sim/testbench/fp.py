"""cocotb bench: every floating-point unit of one format, bit for bit against golden.

Environment: PAM_FP_FORMAT, PAM_FP_LANES, PAM_FP_RANDOM (random pairs),
PAM_FP_SEED, PAM_RESULTS (JSON out). Operands go in ``lanes`` at a time, so
Python runs once per simulated cycle for ``lanes`` operations of every unit.
"""

from __future__ import annotations

import json
import os
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge

from golden.formats import format_by_name
from hw.units import UNIT_SPECS
from sim.harness.fp_unit import OPERAND_BITS, harness_units
from sim.testbench.fp_check import FPMismatch, check_unit, stimulus


def pack(values: np.ndarray) -> list[int]:
    """[cycles, lanes] operands -> one integer per cycle, lane 0 in the low bits."""
    raw = values.astype("<u4").tobytes()
    step = values.shape[1] * OPERAND_BITS // 8
    return [int.from_bytes(raw[i:i + step], "little") for i in range(0, len(raw), step)]


def unpack(words: list[int], lanes: int, width: int) -> np.ndarray:
    mask = (1 << width) - 1
    return np.array([(w >> (k * width)) & mask for w in words for k in range(lanes)], np.int64)


@cocotb.test()
async def fp_units_bit_exact(dut):
    fmt = format_by_name(os.environ["PAM_FP_FORMAT"])
    lanes = int(os.environ["PAM_FP_LANES"])
    seed = int(os.environ["PAM_FP_SEED"])
    dut._log.info(f"format {fmt}, lanes {lanes}, seed {seed} (set PAM_SEED to replay)")
    a, b = stimulus(fmt, int(os.environ["PAM_FP_RANDOM"]), seed)
    pad = -len(a) % lanes
    a, b = np.pad(a, (0, pad)), np.pad(b, (0, pad))
    words_a, words_b = pack(a.reshape(-1, lanes)), pack(b.reshape(-1, lanes))
    units = harness_units(fmt)
    outs = {u: (getattr(dut, f"{u}_out"), getattr(dut, f"{u}_valid")) for u in units}
    got = {u: [] for u in units}

    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    dut.valid.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    t0 = time.perf_counter()
    cycles = 0
    while any(len(got[u]) < len(words_a) for u in units):
        await FallingEdge(dut.clk)
        if cycles < len(words_a):
            dut.a.value = words_a[cycles]
            dut.b.value = words_b[cycles]
            dut.valid.value = 1
        else:
            dut.valid.value = 0
        await RisingEdge(dut.clk)
        await ReadOnly()
        for u, (out, valid) in outs.items():
            if valid.value:
                got[u].append(out.value.to_unsigned())
        cycles += 1
    wall = time.perf_counter() - t0
    report = {"format": fmt.name, "lanes": lanes, "seed": seed, "cycles": cycles, "wall_s": wall,
              "units": {}}
    errors = []
    for u in units:
        spec = UNIT_SPECS[u]
        results = unpack(got[u], lanes, spec.out_fmt(fmt).width)[:len(a) - pad]
        try:
            n = check_unit(spec, fmt, a[:len(a) - pad], b[:len(a) - pad], results)
            report["units"][u] = {"checked": n, "mismatches": 0}
        except FPMismatch as exc:
            errors.append(str(exc))
            report["units"][u] = {"checked": len(results), "mismatches": str(exc)}
    if errors:
        report["error"] = " | ".join(errors)
    with open(os.environ["PAM_RESULTS"], "w") as f:
        json.dump(report, f)
    assert not errors, report["error"]
