"""``pam bench``: FP units, schedule, PU, simulation speed, reduction overhead, command fuzz and scheduler soak."""

from __future__ import annotations

import dataclasses
import sys


from hw.pu import phase_cycles
from hw.tierconfig import load_tier
from perf.progress import stage
from sim.bench.fp import bench_fp
from sim.bench.fuzz import fuzz_system
from sim.bench.soak import soak_scheduler
from sim.bench.schedule import bench_schedule
from sim.bench.sim_speed import DESIGNS as BENCH_DESIGNS, bench_sim
from sim.runs.pu_on_bank import run_pu_on_bank
from sim.cli.common import emit, table
from sim.cli.simulate import step_lines, system_spec
from sim.runs.system import (spread_placement, system_step)
from golden.traces.format import generate_trace


def cmd_bench_fp(args):
    data = bench_fp(args.formats.split(","), args.lanes, args.random, args.seed)
    lines = [f"floating-point units: {data['random_pairs']} random pairs (+ exhaustive 16-bit inputs), "
             f"{data['lanes']} lanes per unit, seed {data['seed']}; rates from one run, side by side"]
    lines += table([(r["unit"], r["format"], r["results"], f"{r['verilator_results_per_s']:,.0f}",
                      f"{r['golden_results_per_s']:,.0f}", f"{r['sim_cycles_per_s']:,.0f}",
                      r["mismatch"] or "none") for r in data["rows"]],
                    ("unit", "format", "results", "verilator results/s", "golden results/s", "sim cycles/s",
                     "first mismatch"))
    emit(args, data, lines)


def cmd_bench_schedule(args):
    with stage(f"host scheduler, {args.requests} requests at {', '.join(map(str, args.contexts))} tokens each, "
               f"heap and array schedulers side by side"):
        data = bench_schedule(args.contexts, args.requests, args.steps, sparsity=args.sparsity,
                              max_moves=args.max_moves, seed=args.seed)
    lines = [f"host scheduler (Eq. 7 + Algorithm 2) per decode step, {data['requests']} requests, "
             f"top {100 * data['sparsity']:g}% scored, at most {data['max_moves']} swaps per request and step, "
             f"{data['steps']} timed steps after {data['warmup']}; locality and control side by side, seed "
             f"{data['seed']}; the heap scheduler (reference) and the array scheduler on the same streams, every move "
             f"equal"]
    lines += table([(r["context"], "locality" if r["locality"] else "control", f"{r['step_ms_mean']:.1f}",
                      f"{r['array_step_ms_mean']:.2f}", f"{r['speedup']:.0f}x" if r['speedup'] else '-', r["scored_per_step"],
                      f"{r['moves_per_step']:.0f}", f"{r['moved_pct']:.3f}", f"{r['ssd_to_ddr_pct']:.3f}",
                      f"{r['us_per_scored_or_moved']:.2f}", f"{r['array_us_per_scored_or_moved']:.3f}",
                      f"{r['admit_s']:.1f}") for r in data["rows"]],
                    ("tokens/request", "stream", "heap ms/step", "array ms/step", "speed-up", "scored", "moved",
                     "moved %", "SSD>DDR %", "heap us/token", "array us/token", "admit s"))
    emit(args, data, lines)


def cmd_bench_pu(args):
    rows = []
    for tier in args.tiers.split(","):
        for group in args.groups:
            for tokens in args.tokens:
                trace = generate_trace(tokens=tokens, q_heads=group, kv_heads=1, head_dim=args.head_dim,
                                       dtype=args.dtype, dist="heavy", seed=args.seed)
                run = run_pu_on_bank(trace, tier_name=tier)
                k_cycles, v_cycles = phase_cycles(tokens, group, args.head_dim // load_tier(tier).lanes,
                                                  run.block_tokens)
                figures = {k: v for k, v in dataclasses.asdict(run).items() if k not in ("build", "trace_of_run")}
                rows.append({**figures, "tokens": tokens, "k_cycles_per_token": k_cycles / tokens,
                             "v_cycles_per_token": v_cycles / tokens,
                             "bound": "memory" if run.fraction_of_limit >= 0.95 else "compute or phases",
                             "partials_per_s": group * run.sim_cycles_per_s / run.cycles})
    emit(args, {"runs": rows, "tokens": args.tokens, "head_dim": args.head_dim, "format": args.dtype}, [
        f"PU fed by its bank, head_dim {args.head_dim}, {args.dtype}, the PU at its tier's clock (cycles per "
        f"token: K and V columns the PU takes at full rate, in PU cycles; total measured, in memory cycles)",
        *table([(r["tier"], r["group"], r["tokens"], r["block_tokens"], f'{r["k_cycles_per_token"]:.1f}',
                  f'{r["v_cycles_per_token"]:.1f}', f'{r["cycles_per_token"]:.1f}', f'{100 * r["utilisation"]:.1f}%',
                  f'{100 * r["fraction_of_limit"]:.1f}%', r["bound"], "yes" if r["bit_exact"] else "NO",
                  f'{r["sim_cycles_per_s"]:,.0f}', f'{r["partials_per_s"]:,.1f}') for r in rows],
               ["tier", "G", "tokens", "B", "K/tok", "V/tok", "cyc/tok", "bus", "of limit", "bound", "exact",
                "sim cyc/s", "partials/s"])])
    return 0 if all(r["bit_exact"] for r in rows) else 1


def cmd_bench_sim(args):
    designs = [d for d in (args.designs or ",".join(BENCH_DESIGNS)).split(",") if d]
    if args.tokens_per_bank < 1 or args.pu_tokens < 1 or args.reads < 1:
        raise ValueError(f"--tokens-per-bank, --pu-tokens and --reads must be >= 1, not {args.tokens_per_bank}, "
                         f"{args.pu_tokens} and {args.reads}")
    data = bench_sim(designs, args.tokens_per_bank, args.pu_tokens, args.reads, args.seed,
                     progress=lambda line: print(line, file=sys.stderr, flush=True))
    lines = ["simulation speed: the same build under cocotb and under a plain C++ main, outputs identical cycle "
             "for cycle"]
    lines += table([(r["design"], f"{r['verilog_bytes'] / 1e6:.2f} MB", r["modules"], f"{r['verilate_s']:.0f}",
                      f"{r['cxx_s']:.0f}", r["cycles"], f"{r['cocotb_cycles_per_s']:,.0f}",
                      f"{r['raw_cycles_per_s']:,.0f}", f"{r['cocotb_over_raw']:.2f}") for r in data["rows"]],
                    ("design", "Verilog", "modules", "verilate s", "C++ s", "cycles", "cocotb cycles/s",
                     "C++ cycles/s", "cocotb/C++"))
    lines += [f"  {r['design']}: {r['job']}" for r in data["rows"]]
    emit(args, data, lines)


def cmd_bench_device(args):
    spec = system_spec(args.dtype, args.head_dim, args.group)
    trace = generate_trace(tokens=args.tokens, q_heads=args.group, kv_heads=1, head_dim=args.head_dim,
                           dtype=args.dtype, dist="heavy", seed=args.seed)
    step = system_step(spec, trace, spread_placement(spec, args.tokens))
    fig = step.figures()
    data = {"format": args.dtype, "head_dim": args.head_dim, "group": args.group, "tokens": args.tokens,
            "bit_exact": step.bit_exact, "build_s": step.run.built_s, "wall_s": step.run.wall_s, **fig}
    lines = [f"one decode step on the system top (HBM 1x2, DDR 2x1, SSD 1x2; PUs of 4 lanes), {args.dtype}, "
             f"head_dim {args.head_dim}, G = {args.group}, {args.tokens} tokens round robin; "
             + ("bit-exact" if step.bit_exact else "NOT bit-exact")]
    lines += step_lines(step)
    emit(args, data, lines)
    return 0 if step.bit_exact else 1


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_bench_fuzz(args):
    run = fuzz_system(args.commands, args.steps, args.resets, args.seed, args.dtype, raw=not args.cocotb, progress=_say)
    data = dataclasses.asdict(run) | {"violations": run.violations}
    lines = [f"command fuzz of the system top, seed {run.seed}: {run.commands:,} commands, {run.decode_commands:,} of "
             f"them two requests' {run.decode_steps} decode steps; random idle cycles and back-pressure; "
             f"{run.resets} mid-run resets (play resumed at commands {', '.join(map(str, run.resumes)) or '-'})",
             "  random commands: " + ", ".join(f"{k} {v:,}" for k, v in run.random_commands.items()),
             "  rejected by the top: " + ", ".join(f"{k} {v:,}" for k, v in run.rejected.items()),
             f"  statuses unlike the command model: {run.status_violation_count}"
             + "".join(f"\n    command {i} ({kind}): got (op, code) {got}, expected {want}"
                       for i, kind, got, want in run.status_violations),
             f"  outputs: {run.outputs} words, " + (f"first mismatch: {run.output_mismatch}, which ended the run "
                                                    f"({run.unplayed:,} commands unplayed)" if run.output_mismatch
                                                    else "every one bit-exact"),
             f"  violations: {run.violations}; simulated in {run.sim_s:.1f} s, {run.wall_s:.1f} s in all"]
    emit(args, data, lines)
    return 0 if run.violations == 0 else 1


def cmd_bench_soak(args):
    run = soak_scheduler(args.decode_steps, args.concurrent, audit_every=args.audit_every, seed=args.seed,
                         progress=True)
    data = dataclasses.asdict(run)
    lines = [f"scheduler soak, seed {run.seed}: {run.steps:,} decode steps of {run.requests:,} requests "
             f"({args.concurrent} at once), {run.moves:,} token moves "
             f"({', '.join(f'{k} {v:,}' for k, v in run.moves_by_route.items())})",
             f"  payload digests checked: {run.checked_payloads:,}; whole-request audits: {run.audits:,}",
             f"  violations: {run.violations}" + "".join(f"\n    request {r}, step {s}: {what}"
                                                       for r, s, what in run.first_violations),
             f"  {run.wall_s:.0f} s, {run.steps_per_s:,.0f} steps/s"]
    emit(args, data, lines)
    return 0 if run.violations == 0 else 1
