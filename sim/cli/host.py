"""``pam schedule``: the host driver on a trace."""

from __future__ import annotations

import dataclasses

import numpy as np

from host.driver import HostDriver
from host.importance import SCORE_SOURCES
from sim.cli.common import emit, table
from sim.runs.driver import driver_shapes
from sim.runs.system import SCHEDULE_DEVICES, SystemSpec
from golden.traces.format import read_trace


def _ratio(value) -> str:
    """IS_H/IS_S or IS_D/IS_S; '-' where the SSD holds no importance (nothing placed there)."""
    return "-" if value is None else f"{value:.2f}"


def _run_source(args, trace, shapes, source):
    """One source's run of the host driver: (summary, per-step reports)."""
    driver = HostDriver(shapes, args.x, args.y, source, args.lam, args.sparsity, args.max_moves)
    reports = driver.run(trace, args.steps)
    moved = sum(r.moves for r in reports)
    routes: dict[str, int] = {}
    for r in reports:
        for route, count in r.moves_by_route.items():
            routes[route] = routes.get(route, 0) + count
    mean_ctx = float(np.mean([r.context for r in reports]))
    per_step = 100 / len(reports) / mean_ctx
    is_h, is_d, is_s = reports[-1].importance_per_tier
    times = [r.scheduler_time_s for r in reports]
    summary = {"steps": len(reports), "moves": moved, "moved_per_step_pct": moved * per_step,
               "moves_by_route": routes, "ssd_to_ddr_per_step_pct": routes.get("SSD>DDR", 0) * per_step,
               "migration_bytes": sum(r.migration_bytes for r in reports),
               "migration_time_s": sum(r.migration_time_s for r in reports),
               "cpu_relayout_time_s": sum(r.cpu_relayout_time_s for r in reports),
               "scheduler_time_mean_s": float(np.mean(times)), "scheduler_time_max_s": float(np.max(times)),
               "balance_mean": [float(np.mean([r.balance_per_tier[t] for r in reports])) for t in range(3)],
               "final_ratios": {"x": is_h / is_s if is_s else None, "y": is_d / is_s if is_s else None},
               "targets": {"x": args.x, "y": args.y}, "capacities": [s.capacity for s in shapes],
               "source": source, "trace_info": trace.info}
    return summary, reports


def cmd_schedule(args):
    trace = read_trace(args.trace)
    devices = tuple(dataclasses.replace(d, rows=r) for d, r in zip(SCHEDULE_DEVICES, args.rows))
    spec = SystemSpec(devices, trace.fmt.name, trace.head_dim, trace.group)
    shapes = driver_shapes(spec, trace.head_dim, kv_heads=trace.kv_heads)
    if trace.tokens > sum(s.capacity for s in shapes):
        raise ValueError(f"--rows: {' '.join(map(str, args.rows))} give the devices {sum(s.capacity for s in shapes)} "
                         f"tokens in all; the trace needs {trace.tokens}")
    sources = sorted(SCORE_SOURCES) if args.source == "all" else args.source.split(",")
    unknown = [s for s in sources if s not in SCORE_SOURCES]
    if unknown:
        raise ValueError(f"--source: {unknown[0]!r} is not one of {sorted(SCORE_SOURCES)} or 'all'")
    if len(sources) > 1:
        return _compare_sources(args, trace, shapes, sources)
    summary, reports = _run_source(args, trace, shapes, sources[0])
    rows = [dataclasses.asdict(r) for r in reports]
    routes, moved = summary["moves_by_route"], summary["moves"]
    lines = [f"schedule of {args.trace}: {len(reports)} steps, score source {args.source}, "
             f"capacities HBM/DDR/SSD {summary['capacities']}, targets x = {args.x:g}, y = {args.y:g}"]
    lines += table([(r.step, r.context, r.moves, r.moves_by_route.get("SSD>DDR", 0),
                      "/".join(map(str, r.tokens_per_tier)),
                      "/".join(f"{v:.2e}" for v in r.importance_per_tier),
                      "/".join(f"{b:.2f}" for b in r.balance_per_tier), r.migration_bytes,
                      f"{r.migration_time_s * 1e6:.1f}", f"{r.scheduler_time_s * 1e6:.0f}") for r in reports],
                    ("step", "context", "moves", "S>D", "tokens H/D/S", "IS H/D/S", "bg balance H/D/S", "bytes",
                     "migr us", "sched us"))
    ratios = summary["final_ratios"]
    lines.append(f"moved {moved} tokens: {summary['moved_per_step_pct']:.3f}% of the context per step "
                 f"(paper ~0.7%), SSD->DDR {summary['ssd_to_ddr_per_step_pct']:.3f}% (paper < 0.1%); "
                 f"routes {routes}")
    lines.append(f"last step x* = {_ratio(ratios['x'])}, y* = {_ratio(ratios['y'])}; scheduler "
                 f"{summary['scheduler_time_mean_s'] * 1e6:.0f} us per step (max "
                 f"{summary['scheduler_time_max_s'] * 1e6:.0f}); migration {summary['migration_time_s'] * 1e6:.0f} us "
                 f"through the interface vs {summary['cpu_relayout_time_s'] * 1e6:.0f} us CPU re-layout")
    emit(args, {"summary": summary, "steps": rows}, lines)


def _compare_sources(args, trace, shapes, sources):
    """Every score source on the same trace, one summary row each."""
    summaries = {source: _run_source(args, trace, shapes, source)[0] for source in sources}
    first = summaries[sources[0]]
    lines = [f"schedule of {args.trace}: score sources side by side, {first['steps']} steps, capacities "
             f"HBM/DDR/SSD {first['capacities']}, targets x = {args.x:g}, y = {args.y:g}"]
    lines += table([(source, f"{s['moves'] / s['steps']:.1f}", f"{s['moved_per_step_pct']:.3f}",
                     f"{s['ssd_to_ddr_per_step_pct']:.3f}", "/".join(f"{b:.2f}" for b in s["balance_mean"]),
                     _ratio(s["final_ratios"]["x"]), _ratio(s["final_ratios"]["y"]),
                     f"{s['scheduler_time_mean_s'] * 1e6:.0f}") for source, s in summaries.items()],
                   ("source", "moves/step", "moved %/step", "SSD>DDR %/step", "bg balance H/D/S", "x*", "y*",
                    "sched us"))
    emit(args, {"sources": summaries}, lines)
