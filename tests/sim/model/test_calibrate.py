"""pam calibrate on the smallest configuration the PU tests already build (HBM3, FP16, d = 64, G = 1)."""

import json

import pytest

from hw.pu import phase_cycles
from hw.tierconfig import load_tier
from sim.model.calibrate import load_calibration
from sim.cli import main
from sim.model.node import load_node


@pytest.mark.verilator
def test_calibrate_measures_the_rtl_and_the_model_reads_it(tmp_path, capsys):
    out = tmp_path / "cal.json"
    assert main(["calibrate", "--tiers", "hbm3", "--groups", "1", "--head-dim", "64", "--out", str(out),
                 "--json"]) == 0
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
    assert load_calibration(out)["pu"] == data["pu"]
    with pytest.raises(ValueError, match="no PU or RU entry for tier ddr4"):
        load_node(out)
