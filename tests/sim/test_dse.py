"""pam sweep (sim.dse): axes, tier files, the Pareto front, and a two-point sweep end to end on the RTL."""

import csv
import json
import tomllib
from importlib import resources

import pytest

from sim.cli import main
from perf.calibration import load_calibration
from sim.dse import _tier_text, parse_axes, pareto_front


def test_axes_parse_and_refuse_what_they_cannot_sweep():
    assert parse_axes(["ddr4.pu_mhz=500,800", "hbm3.lanes=8,16"]) == {("ddr4", "pu_mhz"): (500.0, 800.0),
                                                                       ("hbm3", "lanes"): (8, 16)}
    for bad, match in (("ddr4.rows=1,2", "FIELD in"), ("lpddr.pu_mhz=1", "TIER in"), ("hbm3.lanes=x", "not an integer"), ("hbm3.pu_mhz=nan", "not a finite"), ("hbm3.lanes=0", "below the least"),
                       ("hbm3.lanes", "TIER.FIELD=")):
        with pytest.raises(ValueError, match=match):
            parse_axes([bad])


def test_a_points_tier_file_changes_the_named_fields_and_nothing_else():
    shipped = tomllib.loads(resources.files("hw").joinpath("configs", "ddr4.toml").read_text())
    changed = tomllib.loads(_tier_text("ddr4", {"pu_mhz": 800.0, "lanes": 8, "kv_fifo_columns": 16,
                                                 "columns_per_row": 64}))
    assert changed["clock"]["pu_mhz"] == 800.0 and changed["pu"]["lanes"] == 8
    assert changed["geometry"]["column_bits"] == 128 and changed["pu"]["kv_fifo_columns"] == 16
    assert changed["geometry"]["columns_per_row"] == 64
    changed["clock"]["pu_mhz"] = shipped["clock"]["pu_mhz"]
    changed["pu"] = shipped["pu"]
    changed["geometry"]["column_bits"] = shipped["geometry"]["column_bits"]
    changed["geometry"]["columns_per_row"] = shipped["geometry"]["columns_per_row"]
    assert changed == shipped


def test_the_pareto_front_keeps_exactly_the_undominated_designs():
    rows = [{"cost": 1, "pam_tokens_per_s": 10}, {"cost": 2, "pam_tokens_per_s": 20}, {"cost": 2, "pam_tokens_per_s": 15},
            {"cost": 3, "pam_tokens_per_s": 20}, {"cost": 0.5, "pam_tokens_per_s": 5}]
    assert pareto_front(rows, "cost") == [0, 1, 4]


@pytest.mark.verilator
def test_a_two_point_sweep_runs_end_to_end_and_meets_the_shipped_calibration(tmp_path, capsys):
    """DDR4's PU at the shipped 500 MHz and at 800 MHz, OPT-175B: each point calibrated on the RTL; the 500 MHz
    point reproduces the shipped calibration's DDR4 G = 1 figure (measured by pam calibrate, not by the sweep)."""
    out = tmp_path / "dse"
    assert main(["sweep", "--set", "ddr4.pu_mhz=500,800", "--models", "opt_175b", "-o", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = data["rows"]
    assert [r["ddr4.pu_mhz"] for r in rows] == [500.0, 800.0] and all(r["model"] == "opt_175b" for r in rows)
    shipped = next(e for e in load_calibration()["pu"] if e["tier"] == "ddr4" and e["group"] == 1)
    assert rows[0]["ddr4.cycles_per_token_g1"] == shipped["cycles_per_token"]
    assert rows[1]["ddr4.cycles_per_token_g1"] <= rows[0]["ddr4.cycles_per_token_g1"]
    assert all(r["pam_tokens_per_s"] > 0 and r["energy_per_token_j"] > 0 and r["pu_area_mnand2"] > 0 for r in rows)
    with open(out / "sweep.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [float(r["pam_tokens_per_s"]) for r in table] == [r["pam_tokens_per_s"] for r in rows]
    assert (out / "pareto.png").stat().st_size > 10_000 and data["pareto_area"] and data["pareto_energy"]
