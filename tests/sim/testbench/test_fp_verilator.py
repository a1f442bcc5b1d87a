"""The floating-point units' Verilog under cocotb + Verilator, bit for bit against golden.

Per 16-bit format: all 65,536 inputs of every unary unit, every pair of special values and 10^6 random
pairs of every binary unit; FP32: specials and 10^6 random pairs. The scoreboard checks each result as it
leaves the design. The idle × back-pressure matrix runs on a smaller stimulus. Marked ``verilator``: one
build per format (cached in build/sim/).
"""

import pytest

from golden.formats import format_by_name
from sim.testbench.base import PAUSE_MATRIX
from sim.testbench.fp import run_fp_units
from sim.testbench.fp_check import special_pairs

LANES = 16
RANDOM_PAIRS = 1_000_000


def operations(fmt, random_pairs):
    return (65536 if fmt.width == 16 else 0) + len(special_pairs(fmt)[0]) + random_pairs


@pytest.mark.verilator
@pytest.mark.parametrize("fmt_name", ["fp16", "bf16", "fp32"])
def test_units_bit_exact_under_verilator(fmt_name, seed):
    fmt = format_by_name(fmt_name)
    report = run_fp_units(fmt, LANES, RANDOM_PAIRS, seed)
    print(f"{fmt_name}: {report['checked']} operations of {len(report['units'])} units, {report['cycles']} cycles "
          f"in {report['wall_s']:.1f} s, seed {seed}")
    assert report["mismatch"] is None, report["mismatch"]
    assert report["checked"] == operations(fmt, RANDOM_PAIRS)
    assert report["cycles"] < report["commands"] + 50          # one command per cycle, no back-pressure


@pytest.mark.verilator
@pytest.mark.parametrize("fmt_name", ["bf16", "fp32"])
@pytest.mark.parametrize("pauses", list(PAUSE_MATRIX))
def test_units_bit_exact_under_the_idle_and_back_pressure_matrix(fmt_name, pauses, seed):
    fmt = format_by_name(fmt_name)
    report = run_fp_units(fmt, LANES, 20_000, seed, PAUSE_MATRIX[pauses])
    print(f"{fmt_name}, {pauses}: {report['cycles']} cycles for {report['commands']} commands, seed {seed}")
    assert report["mismatch"] is None, report["mismatch"]
    assert report["checked"] == operations(fmt, 20_000)
    assert (report["cycles"] > 1.2 * report["commands"]) == PAUSE_MATRIX[pauses].active


@pytest.mark.verilator
def test_the_scoreboard_names_a_wrong_unit_result_with_its_operands(seed, monkeypatch):
    """fadd's golden result altered for the operand pair at position 100 (as an RTL bug there would show): the
    run stops at that command, and the message names the unit, lane, operands and both bit patterns."""
    import dataclasses

    import numpy as np
    from hw.fp.units import UNIT_SPECS
    from sim.testbench.fp_check import stimulus
    fmt = format_by_name("fp32")
    spec = UNIT_SPECS["fadd"]
    real = spec.golden
    a0, b0 = (int(x[100]) for x in stimulus(fmt, 5000, seed))

    def altered(f, a, b):
        want = np.array(real(f, a, b))
        want[(np.asarray(a) == a0) & (np.asarray(b) == b0)] ^= 1
        return want
    monkeypatch.setitem(UNIT_SPECS, "fadd", dataclasses.replace(spec, golden=altered))
    report = run_fp_units(fmt, LANES, 5000, seed)
    print(report["mismatch"])
    assert report["mismatch"].startswith(f"fp_stream_fp32_x16_job: output {100 // LANES} at cycle ")
    assert (f"lane {100 % LANES} of 1: fadd fp32: 1 of 1 results differ from golden; a=0x{a0:08x} b=0x{b0:08x} "
            "expected=0x") in report["mismatch"]
