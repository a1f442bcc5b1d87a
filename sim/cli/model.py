"""``pam calibrate`` and ``pam eval``: the system model from the RTL's cycle counts."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from sim.model.calibrate import calibrate, check_calibration_run, shipped_calibration_path, write_calibration
from sim.model.evaluate import DIRECTION_WORDS, PRESETS, evaluate
from sim.model.node import load_models, load_node
from sim.model.plots import draw_plots, draw_tornado
from sim.model.sensitivity import parse_sweep, sweep
from sim.cli.common import emit, output_folder, table
from sim.scaleout import ENV_SCHEDULER


def _where(args) -> str:
    """Where the independent jobs run (``sim.scaleout``), checked before any work."""
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, not {args.workers}")
    address = args.scheduler or os.environ.get(ENV_SCHEDULER)
    if address:
        return f"as Dask tasks on the scheduler at {address}"
    workers = args.workers or os.cpu_count() or 1
    return "here, one after another" if workers == 1 else f"as Dask tasks on a local cluster of {workers} workers"


def cmd_calibrate(args):
    tiers, groups = args.tiers.split(","), args.groups
    check_calibration_run(tiers, groups, args.head_dim, args.dtype, args.out, args.merge_with)   # before any build
    where = _where(args)
    print(f"calibrating {len(tiers) * len(groups)} PU and {len(tiers)} RU configurations {where} "
          f"(each builds its simulation once, minutes; cached after)", file=sys.stderr, flush=True)
    data = calibrate(tiers, groups, args.head_dim, args.dtype, args.seed, progress=True, workers=args.workers,
                     scheduler=args.scheduler)
    path = write_calibration(data, args.out, args.merge_with)
    lines = [f"calibration from the RTL ({args.dtype}, head_dim {args.head_dim}, every run bit-exact) -> {path}",
             f"  merged over {args.merge_with or shipped_calibration_path()} for the tiers and groups not run; "
             f"use it with: pam eval --calibration {path}"]
    lines += table([(e["tier"], e["group"], e["lanes"], e["block_tokens"], f"{e['cycles_per_token']:.2f}",
                      f"{e['fixed_cycles']:.0f}", f"{e['clock_mhz']:g}",
                      f"{e['clock_mhz'] * 1e6 / e['cycles_per_token'] / 1e6:.2f}") for e in data["pu"]],
                    ("tier", "G", "lanes", "B", "cycles/token", "fixed", "MHz", "M tokens/s per bank"))
    lines += [f"RU {e['tier']}: {e['cycles_per_partial']:.1f} cycles per merged partial (+{e['fixed_cycles']:.0f})"
              for e in data["ru"]]
    lines.append(f"wall time {data['wall_s']} s")
    emit(args, dict(data, path=str(path)), lines)


# -- eval ---------------------------------------------------------------------

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
    if args.out:
        output_folder("--out", args.out)
    if args.sweep:
        return _eval_sweep(args, models, presets, calibration)
    if args.scheduler:
        raise ValueError(f"--scheduler: {args.scheduler}: only --sweep runs its points on Dask; a plain pam eval "
                         f"takes seconds on the local cores")
    _where(args)
    runs = {p: evaluate(models, args.seed, progress=True, calibration=calibration, preset=p, workers=args.workers)
            for p in presets}
    first = runs[presets[0]]
    lines = [f"system model: {', '.join(first['models'].values())}; calibration from the RTL: {calibration}; "
             f"workloads seeded {args.seed}; presets {', '.join(presets)} (sim/configs/presets/)"]
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
    lines.append("against the paper (brief section 4), per model: ours as mean (min-max) over workloads and SLOs, "
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
    load_node(calibration, presets[0], {name: values[0] for name, values in points.items()})    # names checked first
    print(f"sensitivity sweep {_where(args)}", file=sys.stderr, flush=True)
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


# -- sweep --------------------------------------------------------------------

def cmd_sweep(args):
    import csv

    from sim.model.dse import explore, parse_axes, pareto_front
    from sim.model.plots import draw_pareto

    axes = parse_axes(args.set)
    out = output_folder("--out", args.out)
    known = load_models()
    for model in args.models.split(","):
        if model not in known:
            raise ValueError(f"--models: unknown model {model!r}; choose from {', '.join(known)}")
    points = 1
    for values in axes.values():
        points *= len(values)
    print(f"design-space sweep: {points} points x {len(args.models.split(','))} models, calibration runs and "
          f"evaluations {_where(args)}", file=sys.stderr, flush=True)
    result = explore(axes, args.models.split(","), args.preset, args.workers, args.scheduler, progress=True)
    rows = result["rows"]
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "sweep.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    gain = "pam_tokens_per_s" if args.metric == "online" else "pam_offline_tokens_per_s"
    front_area, front_energy = pareto_front(rows, "pu_area_mnand2", gain), pareto_front(rows, "energy_per_token_j", gain)
    result.update(metric=gain, pareto_area=front_area, pareto_energy=front_energy)
    (out / "sweep.json").write_text(json.dumps(result, indent=1))
    png = draw_pareto(result, front_area, front_energy, out)
    names = list(result["axes"])
    lines = [f"design-space sweep ({args.preset} preset, PAM online peak at p99 TPOT <= {result['slo_ms']} ms, mean "
             f"over the online workloads): {len(rows)} rows -> {out / 'sweep.csv'}, {out / 'sweep.json'}, {png}"]
    lines += table([(*(f"{r[a]:g}" for a in names), r["model"], f"{r['pam_tokens_per_s']:,.0f}",
                     f"{r['pam_offline_tokens_per_s']:,.0f}",
                     f"{r['vs_vllm_offload']:.2f}", f"{r['energy_per_token_j']:.3f}", f"{r['pu_area_mnand2']:,.0f}",
                     ("A" if i in front_area else "") + ("E" if i in front_energy else ""))
                    for i, r in enumerate(rows)],
                   (*names, "model", "PAM online tok/s", "offline tok/s", "online vs vLLM", "J/token",
                    "PU area M NAND2", "Pareto"))
    lines.append(f"Pareto ({args.metric} throughput): A = no design is both smaller and faster; E = none both more "
                 f"frugal and faster")
    emit(args, result, lines)
