"""``pam eval``: the system model's evaluation, and its sensitivity sweep. Imports neither Amaranth nor cocotb."""

from __future__ import annotations

import sys
from pathlib import Path

from perf.calibration import shipped_calibration_path
from perf.evaluate import DIRECTION_WORDS, PRESETS, evaluate
from perf.node import load_node
from perf.plots import draw_plots, draw_tornado
from perf.sensitivity import parse_sweep, sweep
from sim.cli.common import emit, table, where_tasks_run


def _fmt_ratio(value):
    """A ratio, or a mean with its spread ("1.9 (1.3-2.8)"), or the paper's range ("6.03 to 16.96")."""
    if isinstance(value, dict):
        return f"{value['mean']:.3g} ({value['min']:.3g}-{value['max']:.3g})"
    if isinstance(value, list):
        return " to ".join(_fmt_ratio(v) for v in value) if value else "-"
    return "-" if value is None else f"{value:.3g}"


def _pct(value):
    if isinstance(value, list):
        return " to ".join(_pct(v) for v in value)
    return "-" if value is None else f"{100 * value:.1f}% lower"


def _fmt_row(row):
    fmt = _pct if "lower than" in row["comparison"] else _fmt_ratio
    return fmt(row["ours"]), fmt(row["paper"])


def cmd_eval(args):
    models = args.models.split(",") if args.models else None
    presets = args.preset.split(",")
    for preset in presets:
        if preset not in PRESETS:
            raise ValueError(f"--preset: unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    calibration = Path(args.calibration) if args.calibration else shipped_calibration_path()
    if args.sweep:
        return _eval_sweep(args, models, presets, calibration)
    if args.scheduler:
        raise ValueError(f"--scheduler: {args.scheduler}: only --sweep runs its points on Dask; a plain pam eval "
                         f"takes seconds on the local cores")
    where_tasks_run(args)
    runs = {p: evaluate(models, args.seed, progress=True, calibration=calibration, preset=p, workers=args.workers)
            for p in presets}
    first = runs[presets[0]]
    lines = [f"system model: {', '.join(first['models'].values())}; calibration from the RTL: {calibration}; "
             f"workloads seeded {args.seed}; presets {', '.join(presets)} (perf/configs/presets/)"]
    for preset, data in runs.items():
        data["calibration"] = str(calibration)
        if args.out:
            data["plots"] = [str(p) for p in draw_plots(data, Path(args.out) / preset)]
        lines.append(f"[{preset}] vLLM keeps the KV in {data['vllm']['kv_home']}; online peak throughput, ShareGPT, "
                     f"150 ms p99 TPOT (tokens/s, arrivals/s, mean running batch, p99 TPOT, what limits it):")
        lines += ["  " + line for line in table(
            [(data["models"][r["model"]], r["system"], f"{r['throughput']:,.0f}", f"{r['rate']:.3g}",
              f"{r['mean_batch']:.0f}", f"{r['tpot_ms']['p99']:.1f} ms", r.get("limit") or r.get("why", ""))
             for r in data["online"] if r["workload"] == "sharegpt" and r["slo_ms"] == 150],
            ("model", "system", "tokens/s", "req/s", "batch", "p99 TPOT", "limit"))]
    lines.append("attention compute per device at the calibrated speed (4·d FLOPs per token and query head), "
                 "next to the paper's per-device figure under peak power:")
    lines += ["  " + line for line in table(
        [(r["tier"].upper(), r["group"], f"{r['tflops']:.3g}", f"{r['paper_tflops']:g}")
         for r in first["device_compute"]], ("tier", "G", "TFLOPS (ours)", "TFLOPS (paper)"))]
    lines.append("against the paper's evaluation, per model: ours as mean (min-max) over workloads and SLOs, "
                 "or over batches")
    columns = ["comparison"] + [f"{p} preset" for p in presets] + ["paper", "direction"]
    body = []
    for i, row in enumerate(first["comparisons"]):
        cells = [_fmt_row(runs[p]["comparisons"][i])[0] for p in presets]
        body.append((row["comparison"], *cells, _fmt_row(row)[1],
                     "/".join(DIRECTION_WORDS[runs[p]["comparisons"][i]["direction"]] for p in presets)))
    lines += ["  " + line for line in table(body, tuple(columns))]
    if args.out:
        lines.append("plots: " + ", ".join(p for d in runs.values() for p in d["plots"]))
    emit(args, {"presets": runs} if len(runs) > 1 else first, lines)
    return 0


def _eval_sweep(args, models, presets, calibration):
    """``pam eval --sweep``: each assumption's swing on each headline ratio, per preset; a tornado chart with -o."""
    points = parse_sweep(args.sweep)
    for name, values in points.items():                     # every name and value checked before any work
        for value in values:
            load_node(calibration, presets[0], {name: value})
    print(f"sensitivity sweep {where_tasks_run(args)}", file=sys.stderr, flush=True)
    results = {p: sweep(points, models, p, calibration, args.seed, progress=True, workers=args.workers,
                        scheduler=args.scheduler) for p in presets}
    lines = []
    for preset, result in results.items():
        if args.out:
            result["plot"] = str(draw_tornado(result, Path(args.out) / preset))
        lines.append(f"[{preset}] sensitivity of the headline ratios, assumptions by their largest swing:")
        body = []
        for name in result["ranking"]:
            worst = max(result["swings"][name].items(), key=lambda kv: max((abs(x) for x in kv[1]), default=0))
            body.append((name, ", ".join(f"{v:g}" for v in result["values"][name]), worst[0],
                         ", ".join(f"{100 * x:+.0f}%" for x in worst[1])))
        lines += ["  " + line for line in table(body, ("assumption", "values", "moves most", "change"))]
        if args.out:
            lines.append(f"  tornado chart: {result['plot']}")
    emit(args, {"sweeps": results}, lines)
    return 0
