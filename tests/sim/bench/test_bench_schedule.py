"""pam bench schedule: the synthetic activation streams and the figures the bench reports."""

import json

import numpy as np
import pytest

from golden.traces.activations import activated_stream
from sim.bench.schedule import bench_schedule
from sim.cli import main


def test_locality_stream_persists_and_control_does_not(seed):
    overlaps = {}
    for locality in (True, False):
        steps = list(activated_stream(np.random.default_rng(seed), 5000, 6, 0.02, locality))
        assert [n for n, _, _ in steps] == list(range(5001, 5007))
        for n, tokens, scores in steps:
            assert len(np.unique(tokens)) == len(tokens) and tokens.max() < n
            assert scores.sum() == pytest.approx(1.0) and np.all(scores > 0)
        overlaps[locality] = np.mean([len(np.intersect1d(a[1], b[1])) / len(a[1]) for a, b in zip(steps, steps[1:])])
    print(f"consecutive activated-set overlap: locality {overlaps[True]:.2f}, control {overlaps[False]:.2f}")
    assert overlaps[True] > 0.8 and overlaps[False] < 0.1


def test_bench_work_follows_the_scored_and_moved_tokens(seed):
    data = bench_schedule(contexts=(1024, 8192), requests=2, steps=2, warmup=2, seed=seed)
    rows = {(r["context"], r["locality"]): r for r in data["rows"]}
    assert len(rows) == 4
    for r in rows.values():
        # Each scored token costs a push into two heaps; each move costs two pushes, plus lazy pops.
        assert r["heap_ops_per_step"] <= 4 * (r["scored_per_step"] + r["moves_per_step"]) + 8
        assert r["step_ms_mean"] > 0 and r["admit_s"] > 0 and r["array_step_ms_mean"] > 0
    for context in (1024, 8192):
        assert rows[context, False]["moves_per_step"] > 5 * rows[context, True]["moves_per_step"]


def test_cli_bench_schedule_json_and_bad_input(capsys):
    assert main(["bench", "schedule", "--contexts", "256", "--requests", "2", "--steps", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["context"] for r in data["rows"]] == [256, 256] and data["requests"] == 2
    assert main(["bench", "schedule", "--contexts", "32", "--requests", "2"]) == 2
    assert "--contexts: 32 is below the least value, 64" in capsys.readouterr().err
