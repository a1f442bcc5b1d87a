"""``pam calibrate`` and ``pam eval``: the system model from the RTL's cycle counts."""

from __future__ import annotations

import sys
from pathlib import Path


from sim.model.calibrate import calibrate, check_calibration_run, shipped_calibration_path, write_calibration
from sim.model.plots import draw_plots
from sim.model.evaluate import evaluate
from sim.cli.common import emit, output_file, output_folder, table


def cmd_calibrate(args):
    tiers, groups = args.tiers.split(","), args.groups
    check_calibration_run(tiers, groups, args.head_dim, args.dtype, args.out, args.merge_with)   # before any build
    print(f"calibrating {len(tiers) * len(groups)} PU and {len(tiers)} RU configurations on both cores "
          f"(each builds its simulation once, minutes; cached after)", file=sys.stderr, flush=True)
    data = calibrate(tiers, groups, args.head_dim, args.dtype, args.seed, progress=True)
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
    if isinstance(value, list):
        return "-".join(_fmt_ratio(v) for v in value) if value else "-"
    return "-" if value is None else f"{value:.3g}"


def cmd_eval(args):
    models = args.models.split(",") if args.models else None
    calibration = Path(args.calibration) if args.calibration else shipped_calibration_path()
    if args.out:
        output_folder("--out", args.out)
    data = evaluate(models, args.seed, progress=not args.json, calibration=calibration)
    data["calibration"] = str(calibration)
    if args.out:
        data["plots"] = [str(p) for p in draw_plots(data, args.out)]
    lines = [f"system model: {', '.join(data['models'].values())}; calibration from the RTL: {calibration}; "
             f"workloads seeded {args.seed}"]
    best = {}
    for r in data["online"]:
        if r["workload"] == "sharegpt" and r["slo_ms"] == 150:
            best[(r["model"], r["system"])] = r
    lines.append("online peak throughput, ShareGPT, 150 ms per token (tokens/s, batch, what limits it):")
    lines += ["  " + line for line in table(
        [(data["models"][m], s, f"{r['throughput']:,.0f}", r["batch"], r.get("limit") or r.get("why", ""))
         for (m, s), r in best.items()], ("model", "system", "tokens/s", "batch", "limit"))]
    lines.append("against the paper (brief section 4):")
    lines += ["  " + line for line in table(
        [(r["comparison"], _fmt_ratio(r["ours"]), _fmt_ratio(r["paper"]), "yes" if r["direction"] else "NO")
         for r in data["comparisons"]], ("comparison", "ours", "paper", "same direction"))]
    if args.out:
        lines.append("plots: " + ", ".join(data["plots"]))
    emit(args, data, lines)
    return 0
