"""``pam bench fp``: throughput of the floating-point units under Verilator+cocotb, next to golden NumPy.

Both are measured in the same run on the same operands. Under Verilator all
units of a format run side by side behind one stream (``lanes`` copies each,
``sim.testbench.fp``), so every unit's rate is its result count over the
shared wall time.
"""

from __future__ import annotations

import time

from golden.formats import format_by_name
from hw.fp.units import UNIT_SPECS
from sim.testbench.fp_unit import harness_units
from sim.testbench.fp import run_fp_units
from sim.testbench.fp_check import stimulus

__all__ = ["bench_fp"]


def bench_fp(formats=("fp16", "bf16", "fp32"), lanes: int = 16, random_pairs: int = 200_000, seed: int = 1) -> dict:
    for name in formats:                      # every name before the first build
        try:
            format_by_name(name)
        except ValueError as exc:
            raise ValueError(f"--formats: {exc}") from None
    rows = []
    for name in formats:
        fmt = format_by_name(name)
        report = run_fp_units(fmt, lanes, random_pairs, seed)
        a, b = stimulus(fmt, random_pairs, seed)
        for unit in harness_units(fmt):
            spec = UNIT_SPECS[unit]
            mask = (1 << spec.in_fmt(fmt).width) - 1
            t0 = time.perf_counter()
            spec.golden(fmt, a & mask, b & mask)
            golden_s = time.perf_counter() - t0
            checked = report["checked"]
            rows.append({
                "unit": unit, "format": name, "results": checked,
                "verilator_results_per_s": checked / report["wall_s"],
                "golden_results_per_s": len(a) / golden_s,
                "sim_cycles_per_s": report["cycles"] / report["wall_s"],
                "mismatch": report["mismatch"],
                "build_s": round(report["built_s"], 1),
            })
    return {"lanes": lanes, "random_pairs": random_pairs, "seed": seed, "rows": rows}
