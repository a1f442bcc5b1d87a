"""The calibration file: merged over a base so that a partial run keeps every tier, the shipped file never
written, mismatched runs refused (no Verilator: the measured part is made up here)."""

import json

import pytest

from perf.calibration import load_calibration, merge_calibration, shipped_calibration_path
from sim.calibrate import write_calibration
from perf.node import load_node


def measured_hbm3_g5():
    """A run of one tier and one group, with figures the shipped file does not hold."""
    shipped = load_calibration()
    pu = dict(next(e for e in shipped["pu"] if e["tier"] == "hbm3" and e["group"] == 5), cycles_per_token=123.5)
    ru = dict(next(e for e in shipped["ru"] if e["tier"] == "hbm3"), cycles_per_partial=99.0)
    return dict(shipped, pu=[pu], ru=[ru])


def test_a_partial_run_replaces_its_entries_and_keeps_the_rest(tmp_path):
    out = write_calibration(measured_hbm3_g5(), tmp_path / "sub" / "cal.json")
    data = load_calibration(out)
    shipped = load_calibration()
    assert len(data["pu"]) == len(shipped["pu"]) and len(data["ru"]) == len(shipped["ru"])
    by_key = {(e["tier"], e["group"]): e for e in data["pu"]}
    assert by_key["hbm3", 5]["cycles_per_token"] == 123.5 and by_key["hbm3", 5]["origin"] == "measured"
    assert by_key["ddr4", 8]["origin"] == str(shipped_calibration_path())
    assert load_node(out).tiers["hbm"].token_cycles(5) == 123.5
    assert load_node(out).tiers["ddr"].token_cycles(8) == load_node().tiers["ddr"].token_cycles(8)


def test_the_shipped_file_is_never_the_output():
    before = shipped_calibration_path().read_bytes()
    with pytest.raises(ValueError, match="out: .* ships with the project"):
        write_calibration(measured_hbm3_g5(), shipped_calibration_path())
    assert shipped_calibration_path().read_bytes() == before


@pytest.mark.parametrize("field,value", [("head_dim", 64), ("format", "bf16")])
def test_a_run_that_cannot_merge_is_refused(field, value):
    run = dict(measured_hbm3_g5(), **{field: value})
    with pytest.raises(ValueError, match=f"{field}: this run's"):
        merge_calibration(run, load_calibration(), shipped_calibration_path())


def test_a_broken_base_is_named(tmp_path):
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"pu": [1], "ru": [{}]}))
    with pytest.raises(ValueError, match="a pu entry is int"):
        write_calibration(measured_hbm3_g5(), tmp_path / "out.json", merge_with=base)
    assert not (tmp_path / "out.json").exists()
