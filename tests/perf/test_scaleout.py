"""Independent tasks on Dask (perf.scaleout): the same results on a local 2-worker cluster as one after another,
and a worker that dies has its task rerun, never dropped."""

import json
import os
import signal

import pytest

from sim.calibrate import _measure as calibration_task
from perf.sensitivity import sweep
from perf.scaleout import run_tasks


def _square_but_kill_the_worker_once(task):
    marker, value = task
    if value == 3 and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)        # the whole worker process dies mid-task
    return value * value


def _always_kill_the_worker(task):
    os.kill(os.getpid(), signal.SIGKILL)


def test_calibration_tasks_give_the_same_entries_on_a_cluster_as_one_after_another():
    """pam calibrate's RU tasks (one per tier) serially, then as Dask tasks on a local cluster of 2 workers."""
    tasks = [("ru", tier, "fp16", 128, 4, 1) for tier in ("hbm3", "ddr4", "ssd")]
    labels = [f"ru-{j[1]}" for j in tasks]
    done = []
    serial = run_tasks(calibration_task, tasks, labels, workers=1)
    cluster = run_tasks(calibration_task, tasks, labels, workers=2, on_done=lambda i, _: done.append(i))
    assert cluster == serial and sorted(done) == [0, 1, 2]
    assert [e["tier"] for e in cluster] == ["hbm3", "ddr4", "ssd"] and all(e["cycles_per_partial"] > 0 for e in cluster)


def test_a_sensitivity_sweep_is_the_same_on_a_cluster():
    points = {"links.hbm_ddr": (32.0, 128.0)}
    quick = {"serving.window_requests": 100}          # a short run: the same on both
    here = sweep(points, ["opt_175b"], "paper", workers=1, base=quick)
    there = sweep(points, ["opt_175b"], "paper", workers=2, base=quick)
    # JSON text compares NaN (a headline no point has, such as a ratio over a baseline that serves nothing) as equal
    assert json.dumps(here, sort_keys=True) == json.dumps(there, sort_keys=True) and len(there["points"]) == 2


def test_a_worker_killed_mid_job_has_its_job_rerun(tmp_path):
    marker = str(tmp_path / "killed")
    tasks = [(marker, v) for v in range(6)]
    results = run_tasks(_square_but_kill_the_worker_once, tasks, [f"sq{v}" for v in range(6)], workers=2)
    assert os.path.exists(marker)                       # the kill happened
    assert results == [v * v for v in range(6)]         # and task 3 ran again to completion


def test_a_job_that_kills_every_worker_it_meets_raises_instead_of_vanishing():
    from distributed import KilledWorker

    with pytest.raises(KilledWorker):
        run_tasks(_always_kill_the_worker, [0], ["doomed"], workers=2)


def test_an_unreachable_scheduler_is_one_clear_error():
    with pytest.raises(ValueError, match="--scheduler: cannot reach a Dask scheduler at tcp://127.0.0.1:9"):
        run_tasks(calibration_task, [("ru", "hbm3", "fp16", 128, 4, 1)], ["x"], scheduler="tcp://127.0.0.1:9")
