"""``pam bench sim``: how fast the RTL simulates, under cocotb and under a plain C++ main, side by side.

For each design (the test-size system top, the PU on its bank, the lone
bank) it reports the Verilog's size and module count, the Verilator and C++
build times (as recorded when the build was made; a cached build costs
nothing now), and the simulated cycles per second of one job played twice on
the same build: under cocotb (``sim.testbench.wait_done``, which wakes once) and under
``sim/verilator/raw_main.cpp`` (no Python in the process). Both runs must log the same
outputs at the same cycles; a difference raises.
"""

from __future__ import annotations

import numpy as np

from golden.hwmodel import prescale_query
from hw.tierconfig import load_tier
from sim.runs.pu_on_bank import bank_build, run_pu_on_bank, stream_bank
from sim.runs.system import (QUICK_DEVICES, SystemSpec, device_partitions, run_system, spread_placement, system_build,
                            system_commands)
from golden.traces.format import generate_trace

__all__ = ["DESIGNS", "bench_sim"]

DESIGNS = ("system", "pu", "bank")


def _verilog_figures(build) -> dict:
    texts = [p.read_text() for p in sorted(build.build_dir.glob("*.v"))]
    return {"verilog_bytes": sum(len(t) for t in texts),
            "modules": sum(t.count("\nmodule ") + t.startswith("module ") for t in texts),
            "verilate_s": round(build.verilate_s, 1), "cxx_s": round(build.cxx_s, 1)}


def _row(design: str, what: str, build, cycles: int, cocotb_s: float, raw_s: float) -> dict:
    cocotb, raw = cycles / cocotb_s, cycles / raw_s
    return {"design": design, "job": what, **_verilog_figures(build), "cycles": cycles,
            "cocotb_cycles_per_s": cocotb, "raw_cycles_per_s": raw, "cocotb_over_raw": cocotb / raw}


def _system(tokens_per_bank: int, seed: int) -> dict:
    spec = SystemSpec(QUICK_DEVICES, "fp16", 32, 2)
    banks = sum(d.bank_groups * d.banks for d in spec.devices)
    trace = generate_trace(tokens=tokens_per_bank * banks, q_heads=2, kv_heads=1, head_dim=32, dtype="fp16",
                           dist="heavy", seed=seed)
    placement = spread_placement(spec, trace.tokens)
    q = prescale_query(trace.q[0], spec.format)
    k, v = trace.k[:, 0].astype(np.int64), trace.v[:, 0].astype(np.int64)
    commands = system_commands(spec, q, k, v, device_partitions(spec, placement))
    runs = [run_system(spec, commands, raw=raw) for raw in (False, True)]
    a, b = runs
    same = (a.statuses, a.outputs, a.output_cycles, a.cycles, a.changes) == \
           (b.statuses, b.outputs, b.output_cycles, b.cycles, b.changes)
    if not same:
        raise AssertionError("system top: the cocotb and the plain C++ runs differ")
    return _row("system top (HBM 1x2, DDR 2x1, SSD 1x2; 4 lanes, d 32)",
                f"one decode step, {trace.tokens} tokens, {len(commands)} commands", system_build(spec),
                a.cycles, a.wall_s, b.wall_s)


def _pu(tokens: int, seed: int) -> dict:
    trace = generate_trace(tokens=tokens, q_heads=1, kv_heads=1, head_dim=128, dtype="fp16", dist="heavy", seed=seed)
    a, b = (run_pu_on_bank(trace, tier_name="hbm3", bank_alone=False, raw=raw) for raw in (False, True))
    if a.trace_of_run != b.trace_of_run or not (a.bit_exact and b.bit_exact):
        raise AssertionError("PU on its bank: the cocotb and the plain C++ runs differ")
    return _row("PU on its HBM3 bank (16 lanes, d 128, G 1)", f"{tokens} tokens: load, run, partial", a.build,
                a.trace_of_run[0], a.sim_wall_s, b.sim_wall_s)


def _bank(reads: int) -> dict:
    tier = load_tier("hbm3").with_rows(512)
    a, b = (stream_bank(tier, [], reads, raw=raw) for raw in (False, True))
    if a != b:                                   # every logged field; the wall times are not fields
        raise AssertionError("lone bank: the cocotb and the plain C++ runs differ")
    return _row("lone HBM3 bank (512 rows) with its read sequencer", f"{reads} reads", bank_build(tier),
                a.cycles, a.wall_s, b.wall_s)


def bench_sim(designs=DESIGNS, tokens_per_bank: int = 64, pu_tokens: int = 1024, bank_reads: int = 200_000,
              seed: int = 1, progress=None) -> dict:
    """Measure each of ``designs`` (``DESIGNS``); returns {"rows": [...]}."""
    unknown = [d for d in designs if d not in DESIGNS]
    if unknown:
        raise ValueError(f"designs: {unknown[0]!r} is not one of {', '.join(DESIGNS)}")
    rows = []
    for i, design in enumerate(designs):
        if progress:
            progress(f"[{i + 1}/{len(designs)}] {design}: building (cached after the first time) and simulating twice")
        if design == "system":
            rows.append(_system(tokens_per_bank, seed))
        elif design == "pu":
            rows.append(_pu(pu_tokens, seed))
        else:
            rows.append(_bank(bank_reads))
    return {"rows": rows}
