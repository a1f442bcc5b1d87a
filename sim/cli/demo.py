"""``pam demo``: the main job end to end."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

from sim.build_dir import build_dir


from golden.accuracy import ATTENTION_BOUND_EPS
from sim.cli.common import emit
from sim.runs.driver import drive_system
from sim.runs.system import (DEMO_DEVICES, SystemSpec, system_build)
from sim.cli.simulate import MASKS_IN_BINARY, waves_hint
from sim.waves import draw_png, load_waves, write_gtkw
from sim.verilator.toolchain import check_toolchain
from golden.traces.locality import generate_locality_trace, locality_stats
from golden.traces.format import write_trace


DEMO_SIGNALS = "d_cmd__valid,d_cmd__ready,d_pu_active,d_ru_active,d_out__valid"
DEMO_ROWS = (64, 64, 32)       # rows of every bank the request gets: 512 tokens in HBM, 256 in DDR, 512 on the SSD
DEMO_HEAD_DIM, DEMO_GROUP = 128, 2
# The demo traces the system top's ports, as the harness drives and sees them (what its PNG shows): its
# internals over a 700k-cycle run make a VCD of 0.5-0.6 GB and halve the simulation's speed.
# `pam sim device --waves` traces the top and its devices' own logic.
DEMO_WAVE_DEPTH = 0


def cmd_demo(args):
    out = Path(args.out) if args.out else build_dir() / "demo"
    t0 = time.perf_counter()

    def progress(k, line):
        print(f"[{k}/5 {time.perf_counter() - t0:5.0f} s] {line}", file=sys.stderr, flush=True)

    spec = SystemSpec(DEMO_DEVICES, "fp16", DEMO_HEAD_DIM, DEMO_GROUP)
    capacity = sum(d.bank_groups * d.banks * r * d.config().geometry.columns_per_row // (2 * DEMO_HEAD_DIM // d.config().lanes)
                   for d, r in zip(spec.devices, DEMO_ROWS))
    if not 1 <= args.tokens <= capacity - args.steps or args.steps < 1:
        raise ValueError(f"--tokens {args.tokens} and --steps {args.steps}: the demo's devices hold {capacity} "
                         f"tokens, so tokens + steps must be at most {capacity} (and steps >= 1)")
    out.mkdir(parents=True, exist_ok=True)
    progress(1, "checking the toolchain")
    tools = check_toolchain()
    progress(2, f"trace: {args.tokens}-token prompt + {args.steps} decode steps with context locality")
    trace = generate_locality_trace(prompt=args.tokens, steps=args.steps, q_heads=DEMO_GROUP, kv_heads=1,
                                    head_dim=DEMO_HEAD_DIM, dtype="fp16", seed=args.seed)
    write_trace(out / "trace.npz", trace)
    stats = locality_stats(trace)
    progress(3, "system Verilog and its Verilator build (cached by configuration: minutes the first time, "
                "seconds after)")
    build = system_build(spec, waves=args.waves, wave_depth=DEMO_WAVE_DEPTH)
    progress(4, f"host placement and {args.steps} decode steps on the RTL under cocotb (build "
                f"{'cached' if not build.built_s else f'{build.built_s:.0f} s'})")
    job = drive_system(spec, trace, args.steps, rows=DEMO_ROWS, waves=args.waves, wave_depth=DEMO_WAVE_DEPTH)
    progress(5, "golden check, waves and summary")
    shutil.copyfile(job.run.verilog, out / "system.v")
    waves = out / f"system.{args.waves}"
    shutil.copyfile(job.run.wave_file, waves)
    first = job.step_figures(0)
    window = (max(0, first["pu_last"] - 24), first["output_cycle"] + 8)    # step 0: the last PUs, the tree, the output
    wave = load_waves(waves, DEMO_SIGNALS, first=window[0], last=window[1])
    draw_png(wave, out / "wave.png", title=f"system top, step 0: the last PUs finish, the reduction tree runs, "
                                           f"the output leaves (cycles {window[0]}-{window[1]})",
             radix=MASKS_IN_BINARY)
    write_gtkw(wave, out / "system.gtkw", MASKS_IN_BINARY, marker=first["pu_last"])
    worst, bound = max(job.max_rel_err), job.bound
    summary = {
        "trace": str(out / "trace.npz"), "prompt_tokens": args.tokens, "steps": args.steps, "format": "fp16",
        "head_dim": trace.head_dim, "group": trace.group, "top1_mass": stats["top1_mass"],
        "devices": [dataclasses.asdict(d) for d in spec.devices],
        "tokens_per_tier": [list(r.tokens_per_tier) for r in job.reports],
        "moves": [r.moves for r in job.reports], "columns_written": job.writes,
        "bit_exact": job.bit_exact, "max_rel_err": worst, "bound_rel_err": bound, "within_bound": worst <= bound,
        "waves_hint": waves_hint(waves, DEMO_SIGNALS, f"--from {window[0]} --to {window[1]}"),
        "step_cycles": job.step_cycles(), "step0": first,
        "verilog": str(out / "system.v"), "verilog_bytes": (out / "system.v").stat().st_size,
        "waves": str(waves), "png": str(out / "wave.png"), "gtkw": str(out / "system.gtkw"), "build_s": round(job.run.built_s, 1),
        "sim_wall_s": round(job.run.wall_s, 1), "toolchain": {t.name: t.version for t in tools},
    }
    summary["wall_s"] = round(time.perf_counter() - t0, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    ok = all(job.bit_exact) and summary["within_bound"]
    lines = [
        "PAM demo: a request's decode steps on the RTL system top (HBM, DDR, SSD devices + inter-device RU)",
        "  toolchain   " + ", ".join(f"{t.name} {t.version}" for t in tools),
        f"  trace       {args.tokens}-token prompt + {args.steps} steps with context locality (top 1% of tokens "
        f"hold {100 * stats['top1_mass']:.0f}% of the attention), fp16, G = {DEMO_GROUP}, d = {DEMO_HEAD_DIM} "
        f"-> {out / 'trace.npz'}",
        "  placement   host driver (Eq. 7 importance, Algorithm 2, bank-group mapping): tokens HBM/DDR/SSD "
        + ", ".join("/".join(map(str, t)) for t in summary["tokens_per_tier"])
        + f"; moved {summary['moves']} tokens after each step",
        f"  verilog     {out / 'system.v'} ({summary['verilog_bytes'] / 1e6:.1f} MB; Verilator build "
        f"{summary['build_s']} s, cached)",
        f"  simulation  cocotb + Verilator, {args.steps} steps in one run: KV columns written {job.writes}, "
        f"cycles per step {job.step_cycles()}",
        "  golden      every output " + ("BIT-EXACT" if all(job.bit_exact) else f"MISMATCH {job.bit_exact}")
        + f" to the hardware model; max rel err vs float64 {worst:.2e} = {worst / spec.format.eps:.2f} eps "
        f"(bound {ATTENTION_BOUND_EPS:g} eps): " + ("PASS" if summary["within_bound"] else "FAIL"),
        f"  step 0      PUs from cycle {first['pu_first']} to {first['pu_last']}, output at {first['output_cycle']}: "
        f"reduction tail {first['tail_cycles']} cycles = {100 * first['tail_fraction']:.2f}% of the step's attention",
        f"  waves       {waves} and {out / 'wave.png'}; GTKWave: gtkwave {out / 'system.gtkw'} "
        f"(or {summary['waves_hint']})",
        f"  wall time   {summary['wall_s']} s; summary -> {out / 'summary.json'}",
    ]
    emit(args, summary, lines)
    return 0 if ok else 1
