"""``pam calibrate`` and ``pam sweep``: the RTL measured, and the design space explored on it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from perf.node import load_models
from sim.cli.common import emit, table, where_tasks_run


def cmd_calibrate(args):
    from perf.calibration import shipped_calibration_path
    from sim.calibrate import calibrate, check_calibration_run, write_calibration

    tiers, groups = args.tiers.split(","), args.groups
    check_calibration_run(tiers, groups, args.head_dim, args.dtype, args.out, args.merge_with)   # before any build
    where = where_tasks_run(args)
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


def cmd_sweep(args):
    import csv

    from sim.dse import explore, parse_axes, pareto_front
    from perf.plots import draw_pareto

    axes = parse_axes(args.set)
    out = Path(args.out)
    known = load_models()
    for model in args.models.split(","):
        if model not in known:
            raise ValueError(f"--models: unknown model {model!r}; choose from {', '.join(known)}")
    points = 1
    for values in axes.values():
        points *= len(values)
    print(f"design-space sweep: {points} points x {len(args.models.split(','))} models, calibration runs and "
          f"evaluations {where_tasks_run(args)}", file=sys.stderr, flush=True)
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
