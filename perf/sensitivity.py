"""``pam eval --sweep``: how much each assumed figure moves each headline ratio.

Each point reruns the evaluation's comparisons (the serving simulator for
PAM, vLLM-offload and LS-PIM only: :func:`perf.evaluate.evaluate` with
``headline_only``; the ablation and scaling rows in full) with one figure of ``perf/configs/system.toml`` (or a
link of ``host/configs/migration.toml``, as ``links.hbm_ddr``) overridden,
and records every headline's mean ratio. An assumption's *swing* on a
headline is the largest relative change from the base over its values; the
ranking orders assumptions by their largest swing over all headlines.

``DEFAULT_SWEEP`` holds the assumed figures with a low and a high value each,
a plausible range rather than a fit: none is chosen to move a ratio towards
the paper's.
"""

from __future__ import annotations

import math

from perf.evaluate import evaluate
from perf.scaleout import run_tasks
from perf.progress import Progress

__all__ = ["DEFAULT_SWEEP", "headlines", "parse_sweep", "sweep"]

DEFAULT_SWEEP = {
    "links.hbm_ddr": (32.0, 128.0),                 # GB/s per GPU: PCIe 4.0 x16 .. PCIe 6.0 x16 (base 5.0 x16, 64)
    "gpu.compute_efficiency": (0.4, 0.8),           # achieved share of peak FLOPs (base 0.6)
    "gpu.memory_efficiency": (0.6, 0.9),            # achieved share of peak HBM bandwidth (base 0.8)
    "platform.activation_reserve_gb": (20, 160),    # HBM kept from KV: vLLM's KV budget (base 40 GB)
    "sparsity.budget": (0.03125, 0.125),            # share of the context a sparse system attends (base 1/16)
    "sparsity.importance_lambda": (0.3, 0.9),       # Eq. 7's lambda (paper 0.6)
    "host.scheduler_threads": (4, 64),              # host cores running the scheduler (base 16)
    "tiers.ddr.sync_us": (2.0, 20.0),               # DDR-PIM round trip per layer (base 5 us)
    "tiers.ssd.sync_us": (10.0, 100.0),             # SSD-PIM round trip per layer (base 20 us)
    "serving.max_running": (256, 4096),             # running-sequence cap (base 1024; vLLM's default 256)
    "tiers.hbm.power_cap_tflops": (0.8, 3.2),       # HBM-PIM compute per device under its power budget (paper 1.6)
    "tiers.ssd.program_us": (200.0, 1000.0),        # flash page program time (base 500 us)
    "sparsity.label_fraction": (0.0625, 0.25),      # the token selection's label channels (base 1/8)
    "energy.gpu_static_w": (50.0, 200.0),           # static power per GPU (base 100 W)
    "energy.hbm_bank_pj_per_bit": (0.55, 3.9),      # HBM array energy: AttAcc's full-row PIM read .. a whole access
    "energy.ddr_bank_pj_per_bit": (2.0, 10.0),      # DDR4 array energy (base 5)
    "energy.ssd_die_pj_per_bit": (10.0, 100.0),     # NAND page read energy (base 30)
    "energy.pcie_pj_per_bit": (2.0, 10.0),          # PCIe energy (base 5)
}


def parse_sweep(texts: list[str]) -> dict[str, tuple]:
    """``NAME=v1,v2,...`` items (or ``default``) into {name: values}."""
    points: dict[str, tuple] = {}
    for text in texts:
        if text == "default":
            points.update(DEFAULT_SWEEP)
            continue
        name, sep, values = text.partition("=")
        if not sep or not name or not values:
            raise ValueError(f"--sweep: {text!r} is not NAME=v1,v2,... (or 'default')")
        parsed = []
        for value in values.split(","):
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"--sweep: {name}: {value!r} is not a number") from None
            if not math.isfinite(number):
                raise ValueError(f"--sweep: {name}: {value!r} is not a finite number")
            parsed.append(int(number) if number.is_integer() and "." not in value else number)
        points[name] = tuple(parsed)
    return points


def headlines(data: dict) -> dict[str, float]:
    """The mean ratio of every headline comparison of an evaluation that has one."""
    out = {}
    for row in data["comparisons"]:
        ours = row["ours"]
        if isinstance(ours, dict):
            out[row["comparison"]] = ours["mean"]
        elif isinstance(ours, float):                  # the energy saving: one figure per model
            out[row["comparison"]] = ours
    return out


def _point(task: tuple) -> dict:
    """One sweep point (a Dask task): the headlines with ``override`` (the base's alone for the base)."""
    models, seed, calibration, preset, override = task
    return headlines(evaluate(models, seed, calibration=calibration, preset=preset, headline_only=True,
                              overrides=override, workers=1))


def sweep(points: dict[str, tuple], models=None, preset: str = "paper", calibration=None, seed: int = 1,
          progress: bool = False, workers: int | None = None, scheduler: str | None = None,
          base: dict | None = None) -> dict:
    """Run the base and every (name, value) point as independent tasks (``perf.scaleout``: a local Dask cluster
    of ``workers`` processes, the cluster at ``scheduler``, or here with ``workers=1``), every point with the
    ``base`` overrides too; returns their headlines, each assumption's swing per headline and the ranking."""
    named = [(name, value) for name, values in points.items() for value in values]
    base = dict(base or {})
    tasks = [(models, seed, calibration, preset, base)] + [(models, seed, calibration, preset, {**base, n: v})
                                                          for n, v in named]
    labels = ["base"] + [f"{n}={v}" for n, v in named]
    bar = Progress(len(tasks), f"sensitivity sweep ({preset} preset)", progress)
    results = run_tasks(_point, tasks, labels, scheduler=scheduler, workers=workers,
                       on_done=lambda i, _: bar.step(labels[i]))
    base = results[0]
    rows = [{"name": n, "value": v, "headlines": h} for (n, v), h in zip(named, results[1:])]
    swings = {}
    for name in points:
        mine = [r for r in rows if r["name"] == name]
        swings[name] = {h: [(r["headlines"].get(h, math.nan) / b - 1) if b else math.nan for r in mine]
                        for h, b in base.items()}
    ranking = sorted(points, key=lambda n: -max((abs(x) for v in swings[n].values() for x in v if math.isfinite(x)),
                                                default=0.0))
    return {"preset": preset, "base": base, "points": rows, "swings": swings, "ranking": ranking,
            "values": {n: list(v) for n, v in points.items()}}
