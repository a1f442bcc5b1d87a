"""Locality traces (format v2): the computed attention has sinks, recency, drifting heavy hitters."""

import json

import numpy as np
import pytest

from sim.cli import main
from golden.traces.locality import generate_locality_trace, locality_stats
from golden.traces.format import TraceError, generate_trace, read_trace, write_trace


def test_v2_round_trip_and_growing_context(tmp_path):
    trace = generate_locality_trace(prompt=100, steps=5, q_heads=4, kv_heads=2, head_dim=64, seed=3)
    assert trace.tokens == 105 and [trace.context(s) for s in range(5)] == [101, 102, 103, 104, 105]
    write_trace(tmp_path / "t.npz", trace)
    back = read_trace(tmp_path / "t.npz")
    assert back.prompt_tokens == 100 and back.metadata()["version"] == 2
    assert np.array_equal(back.k, trace.k) and np.array_equal(back.q, trace.q)
    with pytest.raises(TraceError, match="step: 5 out of range 0..4"):
        trace.context(5)


def test_v2_consistency_is_validated():
    t = generate_locality_trace(prompt=20, steps=3, head_dim=64, seed=1)
    with pytest.raises(TraceError, match="prompt_tokens: 21 \\+ 3 steps must equal tokens 23"):
        type(t)(t.fmt, t.k, t.v, t.q, prompt_tokens=21)


@pytest.mark.parametrize("prompt", [500, 2000])
def test_structure_is_in_the_computed_attention(prompt, seed):
    stats = locality_stats(generate_locality_trace(prompt=prompt, steps=20, seed=seed))
    baseline = locality_stats(generate_trace(tokens=prompt + 20, steps=20, seed=seed))
    print(f"prompt {prompt}: {stats}\ngaussian: {baseline}")
    assert stats["top1_mass"] > 0.3 and stats["top1_mass"] > 5 * baseline["top1_mass"]
    assert stats["topk_overlap"] > 0.4 and baseline["topk_overlap"] < 0.1
    assert stats["sink_mass"] > 0.03 and stats["recent_mass"] > 0.05


def test_heavy_hitters_drift_slowly(seed):
    """Overlap of top-1% sets falls with the distance between steps: persistent, but drifting."""
    trace = generate_locality_trace(prompt=1500, steps=60, seed=seed)
    q, k, _ = trace.as_float()

    def top(s):
        n = trace.context(s)
        scores = np.einsum("hd,htd->ht", q[s], np.repeat(np.moveaxis(k[:n], 1, 0), trace.group, 0))
        return set(np.argsort(scores.mean(0))[-15:].tolist())
    near = np.mean([len(top(s) & top(s + 1)) for s in range(0, 50, 5)])
    far = np.mean([len(top(s) & top(s + 50)) for s in range(0, 10)])
    assert near > far


def test_cli_locality_gen_and_info_stats(tmp_path, capsys):
    out = tmp_path / "loc.npz"
    assert main(["trace", "gen", "--locality", "-o", str(out), "--tokens", "400", "--steps", "6",
                 "--head-dim", "64", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == 2 and data["prompt_tokens"] == 400 and data["locality"]["top1_mass"] > 0.2
    assert main(["trace", "info", str(out), "--stats"]) == 0
    assert "locality: top-1% sets of consecutive steps overlap" in capsys.readouterr().out
    assert main(["golden", "--trace", str(out), "--lanes", "16", "--json"]) == 0
    golden = json.loads(capsys.readouterr().out)
    assert golden["within_bound"] and len(golden["steps"]) == 6


def test_control_trace_is_as_concentrated_without_locality(seed):
    stats = locality_stats(generate_locality_trace(prompt=1500, steps=20, seed=seed))
    control = locality_stats(generate_locality_trace(prompt=1500, steps=20, seed=seed, locality=False))
    print(f"locality: {stats}\ncontrol: {control}")
    assert control["top1_mass"] > 0.5 * stats["top1_mass"]
    assert control["topk_overlap"] < 0.1 < stats["topk_overlap"]
    assert control["sink_mass"] < 0.01


def test_cli_control_gen_and_conflict(tmp_path, capsys):
    out = tmp_path / "ctl.npz"
    assert main(["trace", "gen", "--control", "-o", str(out), "--tokens", "300", "--steps", "4",
                 "--head-dim", "64", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["info"]["locality"] is False and data["locality"]["topk_overlap"] < 0.5
    assert main(["trace", "gen", "--control", "--locality", "-o", str(out)]) == 2
    assert "--locality and --control cannot be given together" in capsys.readouterr().err
