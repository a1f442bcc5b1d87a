"""The floating-point units' Verilog under cocotb + Verilator, bit for bit against golden.

Per 16-bit format: all 65,536 inputs of every unary unit, every pair of
special values and 10^6 random pairs of every binary unit; FP32: specials
and 10^6 random pairs. Marked ``verilator``: they build a simulator (about
90 s per 16-bit format on 2 cores, cached in build/sim/).
"""

import pytest

from golden.formats import format_by_name
from sim.harness.fp_unit import FPHarness, harness_units
from sim.testbench.fp_check import special_pairs
from sim.verilator.build import build_design, run_bench

LANES = 16
RANDOM_PAIRS = 1_000_000


@pytest.mark.verilator
@pytest.mark.parametrize("fmt_name", ["fp16", "bf16", "fp32"])
def test_units_bit_exact_under_verilator(fmt_name, seed):
    fmt = format_by_name(fmt_name)
    build = build_design(FPHarness(fmt, LANES), f"fp_harness_{fmt_name}_x{LANES}")
    report = run_bench(build, "sim.testbench.fp", {"PAM_FP_FORMAT": fmt_name, "PAM_FP_LANES": LANES,
                                             "PAM_FP_RANDOM": RANDOM_PAIRS, "PAM_FP_SEED": seed})
    print(f"{fmt_name}: {report['cycles']} cycles in {report['wall_s']:.1f} s; "
          + ", ".join(f"{u} {r['checked']}" for u, r in report["units"].items()))
    assert set(report["units"]) == set(harness_units(fmt))
    expected = (65536 if fmt.width == 16 else 0) + len(special_pairs(fmt)[0]) + RANDOM_PAIRS
    for unit, result in report["units"].items():
        assert result == {"checked": expected, "mismatches": 0}, unit
