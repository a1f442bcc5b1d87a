"""The system model: its inputs (calibration, models, workloads, host profile), its parts, and pam eval."""

import dataclasses
import json

import pytest

from hw.tierconfig import load_tier
from perf.calibration import load_calibration
from sim.cli import main
from perf.host_profile import host_profile, mapping_balance
from perf.node import default_node, load_models, pim_tier_layer_s, step
from perf.workloads import WORKLOADS, sample


def test_models_match_their_published_sizes():
    """Parameter counts from the config shapes against the sizes the model cards state."""
    published = {"qwen2_5_32b": 32.5e9, "llama3_70b": 70.6e9, "opt_175b": 175e9}
    node = default_node()
    for key, model in load_models().items():
        params = model.weight_bytes / 2
        kv = node.kv_bytes_per_token(model)
        print(f"{model.name}: {params / 1e9:.2f} B parameters, KV {kv / 1024:.0f} KiB/token")
        assert params == pytest.approx(published[key], rel=0.03)
    assert node.kv_bytes_per_token(load_models()["llama3_70b"]) == 2 * 80 * 8 * 128 * 2      # fp16 calibration


def test_calibration_file_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="does not exist: run pam calibrate"):
        load_calibration(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ValueError, match="is not JSON"):
        load_calibration(bad)
    bad.write_text(json.dumps({"pu": [], "ru": [{}]}))
    with pytest.raises(ValueError, match="section 'pu' is missing or empty"):
        load_calibration(bad)
    entry = {"tier": "hbm3", "head_dim": 128, "group": 1, "cycles_per_token": 0, "fixed_cycles": 0, "clock_mhz": 1}
    bad.write_text(json.dumps({"pu": [entry], "ru": [{}]}))
    with pytest.raises(ValueError, match="a ru entry lacks 'tier'"):
        load_calibration(bad)
    ru = {"tier": "hbm3", "cycles_per_partial": 20.0}
    bad.write_text(json.dumps({"pu": [entry], "ru": [ru]}))
    with pytest.raises(ValueError, match="pu hbm3 G=1 has cycles_per_token 0"):
        load_calibration(bad)
    del entry["clock_mhz"]
    bad.write_text(json.dumps({"pu": [entry], "ru": [ru]}))
    with pytest.raises(ValueError, match="lacks 'clock_mhz'"):
        load_calibration(bad)


def test_the_committed_calibration_is_bit_exact_and_covers_every_model():
    cal = load_calibration()
    assert cal["generated_by"] == "pam calibrate" and all(e["bit_exact"] for e in cal["pu"])
    groups = {m.group for m in load_models().values()}
    for tier in ("hbm3", "ddr4", "ssd"):
        assert groups <= {e["group"] for e in cal["pu"] if e["tier"] == tier}, tier
    for e in cal["pu"]:      # measured, so never faster than the PU's own column streams (hw.pu.phase_cycles)
        chunks = e["head_dim"] // e["lanes"]        # at the PU's clock, in memory cycles (hw.puclock)
        assert e["cycles_per_token"] >= 2 * chunks * e["group"] * e["clock_mhz"] / e["pu_mhz"] - 1e-9, e
        assert e["pu_mhz"] == load_tier(e["tier"]).pu_mhz <= e["clock_mhz"], e


def test_device_compute_follows_the_calibration():
    """Lone banks: banks x tokens/s x FLOPs per token; under the power cap, never above the cap."""
    node = default_node()
    hbm = node.tiers["hbm"]
    per_device = 1024 * 1.3e9 / hbm.token_cycles(8) * 4 * 128 * 8
    assert hbm.device_flops(8, capped=False) == pytest.approx(per_device, rel=1e-12)
    assert hbm.device_flops(8) == pytest.approx(min(per_device, 1.6e12), rel=1e-12)
    assert per_device > 1.6e12                     # the cap binds at G = 8


def test_tier_time_follows_the_calibrated_cycles():
    node = default_node()
    model = load_models()["llama3_70b"]
    tier = dataclasses.replace(node.tiers["hbm"], power_cap_flops=0.0)         # the lone banks' rate
    slower = dataclasses.replace(tier, cycles_per_token={g: 2 * c for g, c in tier.cycles_per_token.items()})
    batch, tokens = 4096, 2000.0           # PU-bound: many tokens per bank
    t1 = pim_tier_layer_s(tier, model, batch, tokens, 1.0) - tier.sync_s
    t2 = pim_tier_layer_s(slower, model, batch, tokens, 1.0) - tier.sync_s
    pu = batch * model.kv_heads * tokens / tier.banks * tier.token_cycles(model.group) / tier.clock_hz
    assert t1 == pytest.approx(pu, rel=0.02) and t2 == pytest.approx(2 * pu, rel=0.02)
    assert pim_tier_layer_s(tier, model, batch, 0.0, 1.0) == 0.0


def test_capacity_limits_and_bad_input():
    node = default_node()
    model = load_models()["opt_175b"]
    big = step(node, model, "AttAcc", 512, 534)
    assert not big.fits and big.why == "KV exceeds HBM" and big.throughput == 0
    assert step(node, model, "PAM", 512, 534).fits
    with pytest.raises(ValueError, match="unknown system 'GPU'"):
        step(node, model, "GPU", 1, 10)
    with pytest.raises(ValueError, match="batch must be >= 1"):
        step(node, model, "PAM", 0, 10)
    narrow = dataclasses.replace(model, head_dim=64)
    with pytest.raises(ValueError, match="head_dim 64, the calibration 128"):
        step(node, narrow, "PAM", 1, 10)


def test_workloads_have_the_stated_means_and_a_seed():
    share, wild = sample("sharegpt", seed=3), sample("wildchat", seed=3)
    assert share["context_mean"] == pytest.approx(183 + 299, rel=0.06)
    assert wild["context_mean"] == pytest.approx(738, rel=0.06)
    assert sample("sharegpt", seed=3) == share and sample("sharegpt", seed=4) != share
    for name in ("arxiv_sum", "write_doc"):
        s = sample(name)
        assert 1500 <= s["context_mean"] <= 8000, s
    assert {w.kind for w in WORKLOADS.values()} == {"online", "offline"}
    with pytest.raises(ValueError, match="unknown workload 'imdb'"):
        sample("imdb")


def test_host_profile_lifts_activated_tokens_and_static_does_not_move():
    dynamic = host_profile((0.2, 0.3, 0.5), 0.0625, True, 4000.0, 100.0)
    static = host_profile((0.2, 0.3, 0.5), 0.0625, False, 4000.0, 100.0)
    print(f"activated share H/D/S: dynamic {dynamic.activated_share}, static {static.activated_share}")
    assert dynamic.activated_share[2] < 0.5 * static.activated_share[2]
    assert dynamic.moved > 0 and static.moved == 0
    assert sum(dynamic.activated_share) == pytest.approx(1.0)
    assert mapping_balance(True) < mapping_balance(False)
    with pytest.raises(ValueError, match="summing to 1"):
        host_profile((0.5, 0.6, 0.0), 0.0625, True)


def test_cli_eval_json_and_plots(tmp_path, capsys):
    assert main(["eval", "--models", "llama3_70b", "--json", "--out", str(tmp_path), "--window-requests", "100"]) == 0
    runs = json.loads(capsys.readouterr().out)["presets"]
    assert sorted(runs) == ["paper", "physical"]
    for preset, data in runs.items():
        assert list(data["models"]) == ["llama3_70b"] and len(data["plots"]) == 6 and data["preset"] == preset
        assert all(r["limit"] in ("SLO", "load", "KV capacity", "running cap") and abs(r["convergence"]) < 1
                   for r in data["online"] if r["throughput"])
        assert {r["workload"] for r in data["online"]} == {"sharegpt", "wildchat", "humaneval", "docchat"}
        assert set(data["crossover_pays_at"]) == {"llama3_70b"} and data["crossover"]
        assert all((tmp_path / preset / p.split("/")[-1]).stat().st_size > 5000 for p in data["plots"])
    assert main(["eval", "--models", "gpt5"]) == 2
    assert "unknown model 'gpt5'" in capsys.readouterr().err


def test_cli_eval_progress_is_plain_lines_when_stderr_is_not_a_terminal(capsys):
    assert main(["eval", "--models", "llama3_70b", "--preset", "physical", "--window-requests", "100"]) == 0
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0].startswith("evaluation ")               # where the tasks run, then the progress lines
    assert "\r" not in err and 5 <= len(lines) - 1 <= 11 and lines[-1].startswith("[")


def test_cli_calibrate_refuses_an_unknown_tier_before_running_anything(capsys):
    assert main(["calibrate", "--tiers", "hbm3,hbm9"]) == 2
    assert "unknown tier 'hbm9'" in capsys.readouterr().err
