"""``pam eval``: the system model's evaluation, and its sensitivity sweep. Imports neither Amaranth nor cocotb."""

from __future__ import annotations

import sys
from pathlib import Path

from perf.calibration import shipped_calibration_path
from perf.evaluate import (CONVERGENCE, CROSSOVER_SLO_MS, DIRECTION_WORDS, MOST_REQUESTS, PAYS, PRESETS,
                           check_models, evaluate_presets)
from perf.node import load_node
from perf.scaleout import check_scheduler
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
    overrides = {"serving.window_requests": args.window_requests} if args.window_requests else None
    check_models(models)
    for preset in presets:                                  # the calibration and figures checked before any work
        load_node(calibration, preset, overrides)
    where = where_tasks_run(args)
    check_scheduler(args.scheduler)
    print(f"evaluation {where}", file=sys.stderr, flush=True)
    runs = evaluate_presets(presets, models, args.seed, progress=True, calibration=calibration, workers=args.workers,
                            scheduler=args.scheduler, overrides=overrides)
    first = runs[presets[0]]
    lines = [f"system model: {', '.join(first['models'].values())}; calibration from the RTL: {calibration}; "
             f"workloads seeded {args.seed}; presets {', '.join(presets)} (perf/configs/presets/)"]
    for preset, data in runs.items():
        data["calibration"] = str(calibration)
        if args.out:
            data["plots"] = [str(p) for p in draw_plots(data, Path(args.out) / preset)]
        converged = sum(abs(r["convergence"]) <= CONVERGENCE for r in data["online"])
        lines.append(f"[{preset}] vLLM keeps the KV in {data['vllm']['kv_home']}; online peak throughput at a 150 ms "
                     f"p99 TPOT (tokens/s, arrivals/s, mean running batch, p99 TPOT, the limit that failed the next "
                     f"rate up, the peak's change with twice the measured requests, flash drive writes per day):")
        lines += ["  " + line for line in table(
            [(data["models"][r["model"]], r["workload"], r["system"], f"{r['throughput']:,.0f}", f"{r['rate']:.3g}",
              f"{r['mean_batch']:.0f}", f"{r['tpot_ms']['p99']:.1f} ms", r.get("limit") or r.get("why", ""),
              f"{100 * r['convergence']:+.1f}%", f"{r['flash_dwpd']:.2g}")
             for r in data["online"] if r["workload"] in ("sharegpt", "docchat") and r["slo_ms"] == 150],
            ("model", "workload", "system", "tokens/s", "req/s", "batch", "p99 TPOT", "limit", "x2 requests",
             "DWPD"))]
        lines.append(f"  convergence: {converged} of {len(data['online'])} online cells move by at most "
                     f"{100 * CONVERGENCE:g}% with twice the measured requests (searched with "
                     f"{data['window_requests']:,}, then twice as many, up to {MOST_REQUESTS}x, until two agree)")
        pays = ", ".join(f"{data['models'][k]} {'from ' + format(c, ',') + ' tokens' if c else 'nowhere up to 128k'}"
                         for k, c in data["crossover_pays_at"].items())
        lines.append(f"  PAM's placement pays (PAM >= {PAYS:g}x LS-PIM, decode at the largest batch within "
                     f"{CROSSOVER_SLO_MS} ms): {pays}")
    lines.append("attention compute per device (4·d FLOPs per token and query head): the lone banks' calibrated "
                 "rate, the power cap, the rate under it, and the paper's per-device figure under peak power:")
    lines += ["  " + line for line in table(
        [(r["tier"].upper(), r["group"], f"{r['lone_bank_tflops']:.3g}", f"{r['power_cap_tflops']:.3g}",
          f"{r['tflops']:.3g}", f"{r['paper_tflops']:g}")
         for r in first["device_compute"]], ("tier", "G", "lone banks", "power cap", "under the cap", "paper"))]
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
    base = {"serving.window_requests": args.window_requests} if args.window_requests else None
    results = {p: sweep(points, models, p, calibration, args.seed, progress=True, workers=args.workers,
                        scheduler=args.scheduler, base=base) for p in presets}
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
