"""pam calibrate on the smallest configuration the PU tests already build (HBM3, FP16, d = 64, G = 1)."""

import json

import pytest

from hw.pu import phase_cycles
from hw.tierconfig import load_tier
from perf.calibration import load_calibration
from sim.cli import main
from perf.node import load_node


def shipped_d64(tmp_path):
    """The shipped calibration relabelled head_dim 64: a complete file to merge a d = 64 run over."""
    data = load_calibration()
    data["head_dim"] = 64
    data["pu"] = [dict(e, head_dim=64) for e in data["pu"]]
    path = tmp_path / "base.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.verilator
def test_calibrate_measures_the_rtl_and_the_model_reads_it(tmp_path, capsys):
    out = tmp_path / "cal.json"
    base = shipped_d64(tmp_path)
    assert main(["calibrate", "--tiers", "hbm3", "--groups", "1", "--head-dim", "64", "-o", str(out),
                 "--merge-with", str(base), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (pu,) = data["pu"]
    (ru,) = data["ru"]
    print(pu, ru)
    assert pu["bit_exact"] and pu["tokens"] == [256, 512] and pu["block_tokens"] == 128
    k, v = phase_cycles(256, 1, 64 // 16, 128)
    assert pu["cycles_per_token"] > (k + v) / 256                 # memory-bound at G = 1: slower than the PU
    # ... and the bank's read bus carries 2C columns per token, each a burst of tBL cycles.
    bursts = 2 * (64 // 16) * load_tier("hbm3").timing.tBL
    assert pu["cycles_per_token"] * pu["read_bus_utilisation"] == pytest.approx(bursts, rel=0.05)
    assert pu["cycles"][1] - pu["cycles"][0] == pytest.approx(256 * pu["cycles_per_token"])
    assert ru["cycles_per_partial"] == 16 + 64 // 16          # the RU's documented merge rate: 16 + C
    written = load_calibration(out)
    assert written["pu"][0] == dict(pu, origin="measured") and written["merged_with"] == str(base)
    assert [(e["tier"], e["group"]) for e in written["pu"][1:]] == [(e["tier"], e["group"])
                                                                     for e in load_calibration(base)["pu"][1:]]
    # A partial run (one tier, one group, d = 64) cannot merge with the shipped d = 128 file; over one of its
    # own it keeps every other tier, and the model reads it.
    node = load_node(out)
    assert set(node.tiers) == {"hbm", "ddr", "ssd"}
