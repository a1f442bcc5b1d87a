"""Independent tasks on Dask ``distributed``: ``pam calibrate``'s runs and ``pam eval --sweep``'s points.

By default the tasks run on an embedded ``LocalCluster`` of one single-threaded worker process per core (or
``workers``). ``--scheduler ADDRESS`` or ``PAM_DASK_SCHEDULER`` sends the same tasks to an existing
cluster instead: a ``dask scheduler`` with its workers, or one that dask-jobqueue started on Slurm, PBS or
LSF. ``workers=1`` with no scheduler runs the tasks here, one after another, without Dask (the serial run).

Every task is submitted with ``pure=False`` (never deduplicated) and ``retries``; a worker that dies takes
its task with it and the scheduler runs that task again on another worker (``distributed.scheduler.
allowed-failures``, 3 by default), so no result is dropped: a task that fails for good raises here. Results
come back in the tasks' order whichever worker ran them, so a run is the same bit for bit on any cluster.

Builds: each task builds or reuses its Verilator model in the build directory (``sim.build_dir``), under the
build cache's lock. Local workers inherit ``PAM_BUILD_DIR`` and ``CCACHE_DIR`` and share one cache. Workers
on other machines share it only through a shared file system: give them the same ``PAM_BUILD_DIR`` (and
``CCACHE_DIR``); otherwise each machine builds each configuration once for itself.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Sequence

__all__ = ["ENV_SCHEDULER", "RETRIES", "check_scheduler", "connect", "run_tasks"]

ENV_SCHEDULER = "PAM_DASK_SCHEDULER"
RETRIES = 2


def connect(address: str):
    """A ``distributed.Client`` of the scheduler at ``address``, or one clear error naming ``--scheduler``; close
    it when done (``check_scheduler`` does at once)."""
    from distributed import Client

    try:
        return Client(address, timeout="5s")
    except OSError as exc:
        raise ValueError(f"--scheduler: cannot reach a Dask scheduler at {address} ({exc})") from None


def check_scheduler(scheduler: str | None) -> None:
    """Refuse an unreachable scheduler (``scheduler`` or ``PAM_DASK_SCHEDULER``) before any work starts."""
    address = scheduler or os.environ.get(ENV_SCHEDULER)
    if address:
        connect(address).close()


def run_tasks(fn: Callable, tasks: Sequence, labels: Sequence[str], *, scheduler: str | None = None,
             workers: int | None = None, on_done: Callable[[int, object], None] | None = None) -> list:
    """``[fn(task) for task in tasks]``, run as Dask tasks; ``on_done(index, result)`` as each finishes (for
    progress: tasks done and left). ``fn`` must be importable by the workers (a module-level function)."""
    address = scheduler or os.environ.get(ENV_SCHEDULER)
    serial = not address and (workers or os.cpu_count() or 1) <= 1
    if serial or not tasks:
        results = []
        for i, task in enumerate(tasks):
            results.append(fn(task))
            if on_done:
                on_done(i, results[-1])
        return results
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if address:
        client = connect(address)
    else:
        cluster = LocalCluster(n_workers=min(len(tasks), workers or os.cpu_count() or 1), threads_per_worker=1,
                               processes=True, dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        run = uuid.uuid4().hex[:12]            # keys unique on a scheduler that other runs share
        futures = [client.submit(fn, task, key=f"pam-{label}-{i}-{run}", pure=False, retries=RETRIES)
                   for i, (task, label) in enumerate(zip(tasks, labels))]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list = [None] * len(tasks)
        for future in as_completed(futures):
            i = index[future.key]
            results[i] = future.result()
            if on_done:
                on_done(i, results[i])
        return results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
