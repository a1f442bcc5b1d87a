"""``pam sim bank|pu|device`` and ``pam waves``: runs on the RTL and their waves."""

from __future__ import annotations

import dataclasses
import functools
import operator
import shutil
from pathlib import Path

import numpy as np

from hw.tierconfig import load_tier
from sim.runs.bank_timing import streaming_figures
from sim.runs.pu_on_bank import run_pu_on_bank, stream_bank
from sim.cli.common import emit, table
from sim.runs.system import (SMALL_DEVICES, SystemSpec, count_by_device, spread_placement, system_step)
from sim.waves import WAVE_FORMATS, draw_png, radix_chooser, format_table, load_waves, write_gtkw
from golden.traces.format import read_trace
from hw.bank import check_dram_tier
from perf.progress import stage

# The activity masks (one bit per device or unit) read best in binary.
MASKS_IN_BINARY = "*active=bin"
# The signals each run's hint shows (they exist at the default --wave-depth; tests run the hints).
PU_SIGNALS = "unit.pu_busy,unit.kv__valid,dut.part__valid"
SYSTEM_SIGNALS = "*cmd__valid,*out__valid,*pu_active,*ru_active"


def waves_hint(path, signals: str, more: str = "") -> str | None:
    """The ``pam waves`` command a run suggests for its wave file (None without one)."""
    return None if path is None else f"pam waves {path} --signals '{signals}'" + (f" {more}" if more else "")


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
    """Copy the run's wave file to --wave-file (when given), with a GTKWave save file of its top-level ports
    beside it (``<waves>.gtkw``); return where the waves are."""
    if written is None:
        return None
    target = Path(written)
    if args.wave_file is not None:
        target = Path(args.wave_file)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(written, target)
    write_gtkw(load_waves(target), target.with_suffix(target.suffix + ".gtkw"), MASKS_IN_BINARY)
    return str(target)


def _run_bank_stream(tier_name, rows, reads, load, seed, waves, wave_depth=2):
    """Build (cached) and run the bank streaming bench; returns (tier, report, figures, wave file or None)."""
    tier = load_tier(tier_name).with_rows(rows)
    capacity = rows * tier.geometry.columns_per_row
    if reads < 1 or load < 0:
        raise ValueError(f"--reads must be >= 1 and --load >= 0, not {reads} and {load}")
    rng = np.random.default_rng(seed)
    width = tier.geometry.column_bits
    words = [int.from_bytes(rng.bytes(width // 8), "little") for _ in range(min(load, capacity))]
    check_dram_tier(tier)
    with stage(f"lone {tier.name} bank under Verilator: build (cached by configuration) and {reads:,} reads"):
        log = stream_bank(tier, words, reads, waves=waves, wave_depth=wave_depth)
    # Addresses wrap at the bank's capacity; columns never loaded read as zero.
    expected = functools.reduce(operator.xor, (words[i % capacity] for i in range(reads)
                                               if i % capacity < len(words)), 0)
    report = {**log.counters, "reads": reads, "loaded": len(words), "checksum_ok": log.counters["checksum"] == expected,
              "wall_s": log.wall_s, "sim_cycles_per_s": log.cycles / max(log.wall_s, 1e-9)}
    if not report["checksum_ok"] or report["beats"] != reads:
        raise AssertionError(f"bank stream: read data differ from the data loaded ({report['beats']} beats)")
    figures = streaming_figures(reads, tier.timing, tier.geometry)
    return tier, report, figures, log.wave_file


def cmd_sim_bank(args):
    waves = _wave_format(args)
    tier, report, fig, written = _run_bank_stream(args.tier, args.rows, args.reads, args.load, args.seed, waves,
                                                  args.wave_depth)
    vcd = _save_waves(args, written)
    util = report["read_bus_cycles"] / report["cycles"]
    hint = waves_hint(vcd, "bank.cmd*", "--from 0 --to 80 --png wave.png")
    data = dict(report, tier=tier.name, utilisation=util, utilisation_limit=fig.utilisation_limit,
                row_period=fig.row_period, waves=vcd, waves_hint=hint)
    emit(args, data, [
        f"{tier.name} bank, {args.rows} rows x {tier.geometry.columns_per_row} columns of {tier.geometry.column_bits} bits",
        f"  loaded {report['loaded']} columns through the write path; read {report['reads']} columns, data checksum "
        + ("OK" if report["checksum_ok"] else "WRONG"),
        f"  {report['cycles']} cycles, {report['activates']} ACT, {report['refreshes']} REF; "
        f"read-bus utilisation {100 * util:.1f}% (timing limit {100 * fig.utilisation_limit:.1f}%, "
        f"row period {fig.row_period} cycles)",
        f"  simulation {report['sim_cycles_per_s']:,.0f} cycles/s (clock and stimulus in HDL)",
    ] + ([f"  waves -> {vcd}  (try: {hint})"] if vcd else []))


def _trace_step(args):
    """The trace, the decode step and its token count that --trace, --kv-head, --step and --tokens name, each
    checked against the trace before any run starts."""
    trace = read_trace(args.trace)
    if not 0 <= args.kv_head < trace.kv_heads:
        raise ValueError(f"--kv-head {args.kv_head} out of range 0..{trace.kv_heads - 1}")
    step_no = args.step or 0
    if not 0 <= step_no < trace.steps:
        raise ValueError(f"--step {step_no} out of range 0..{trace.steps - 1}")
    tokens = trace.context(step_no) if args.tokens is None else args.tokens
    if not 0 <= tokens <= trace.context(step_no):
        raise ValueError(f"--tokens {tokens} out of range 0..{trace.context(step_no)}")
    return trace, step_no, tokens


def cmd_sim_pu(args):
    trace, step_no, _ = _trace_step(args)
    waves = _wave_format(args)
    with stage(f"PU on its {args.tier} bank under Verilator: build (cached by configuration) and run, "
               f"G = {trace.group}, head_dim {trace.head_dim}"):
        run = run_pu_on_bank(trace, kv_head=args.kv_head, step=step_no, tier_name=args.tier, waves=waves,
                             wave_depth=args.wave_depth, tokens=args.tokens)
    run = dataclasses.replace(run, wave_file=_save_waves(args, run.wave_file))
    emit(args, dataclasses.asdict(run), [
        f"PU on a {run.tier} bank: {run.format}, head_dim {run.head_dim}, G = {run.group}, "
        f"{run.tokens} tokens in blocks of {run.block_tokens}",
        "  partials vs golden hardware model: " + ("BIT-EXACT" if run.bit_exact else f"MISMATCH: {run.mismatch}"),
        f"  {run.cycles} cycles ({run.cycles_per_token:.1f} per token); read bus {100 * run.utilisation:.1f}% "
        f"= {100 * run.fraction_of_limit:.1f}% of the bank-alone rate ({100 * run.timing_limit:.1f}%)",
        f"  simulation {run.sim_cycles_per_s:,.0f} cycles/s",
    ] + ([f"  waves -> {run.wave_file}  (try: {waves_hint(run.wave_file, PU_SIGNALS, '--png pu.png')})"]
         if run.wave_file else []))
    return 0 if run.bit_exact else 1


def system_spec(trace_or_fmt, head_dim, group):
    return SystemSpec(SMALL_DEVICES, trace_or_fmt, head_dim, group)


def step_lines(step) -> list[str]:
    fig = step.figures()
    lines = table([(d["tier"], d["shape"], d["tokens"], d["pu_span"], d["ru_busy"], d["ru_overlapping_pu"])
                    for d in fig["devices"]],
                   ("device", "banks", "tokens", "PU cycles", "RU busy", "RU busy during PU"))
    lines += [f"  attention {fig['attention_cycles']} cycles from the first PU start to the last output; reduction "
              f"tail after the last PU {fig['tail_cycles']} cycles = {100 * fig['tail_fraction']:.2f}%; "
              f"{100 * fig['ru_overlap_fraction']:.1f}% of RU work overlaps PU work"]
    return lines


def cmd_sim_device(args):
    trace, step_no, tokens = _trace_step(args)
    spec = system_spec(trace.fmt.name, trace.head_dim, trace.group)
    placement = spread_placement(spec, tokens)
    waves = _wave_format(args)
    with stage(f"decode step on the system top under Verilator: build (cached by configuration) and run, "
               f"{tokens} tokens"):
        step = system_step(spec, trace, placement, kv_head=args.kv_head, step=step_no, seed=args.seed, waves=waves,
                           wave_depth=args.wave_depth)
    vcd = _save_waves(args, step.run.wave_file)
    data = {"devices": [dataclasses.asdict(d) for d in spec.devices], "format": spec.fmt, "head_dim": spec.head_dim,
            "group": spec.group, "tokens": tokens, "tokens_per_bank": count_by_device(spec, placement),
            "bit_exact": step.bit_exact, "flags_clear": step.flags_clear, "max_rel_err": step.max_rel_err,
            "bound": step.bound, "figures": step.figures(), "waves": vcd}
    lines = [f"system top (HBM 1x2, DDR 2x1, SSD 1x2; PUs of 4 lanes): {spec.fmt}, head_dim {spec.head_dim}, "
             f"G = {spec.group}, {tokens} tokens dealt round robin over the banks",
             "  outputs vs golden hardware model: " + ("BIT-EXACT" if step.bit_exact else "MISMATCH") +
             f"; max rel err vs float64 {step.max_rel_err:.3g} (bound {step.bound:.3g})"]
    lines += step_lines(step)
    if vcd:
        lines.append(f"  waves -> {vcd}  (try: {waves_hint(vcd, SYSTEM_SIGNALS, '--png system.png')})")
    emit(args, data, lines)
    return 0 if step.bit_exact and step.max_rel_err <= step.bound else 1


SCREEN_ROWS = 40                 # pam waves prints a screenful unless --all


def cmd_waves(args):
    radix_chooser(args.radix)                              # bad options fail before the file is read
    waves = load_waves(args.file, args.signals, args.clock, args.first, args.last, args.signed or "")
    shown, notes = waves, []
    if not args.all and not args.json and len(waves.cycles) > SCREEN_ROWS:
        start = min(max(0, waves.first_change() - 2), len(waves.cycles) - SCREEN_ROWS)
        shown = waves.window(start, SCREEN_ROWS)
        notes.append(f"cycles {shown.cycles[0]}-{shown.cycles[-1]} of {waves.cycles[0]}-{waves.cycles[-1]}, from "
                     f"just before the first change; {len(waves.cycles) - SCREEN_ROWS:,} rows left out (--all "
                     f"prints every row, --from/--to choose the window)")
    table_lines = format_table(shown, args.radix)
    if args.png:
        draw_png(waves, args.png, title=f"{Path(args.file).name}: cycles {waves.cycles[0]}-{waves.cycles[-1]}",
                 radix=args.radix)
        notes.append(f"picture -> {args.png}")
    if args.gtkw:
        write_gtkw(waves, args.gtkw, args.radix)
        notes.append(f"GTKWave save file -> {args.gtkw} (gtkwave {args.gtkw})")
    data = waves.to_json()
    data["png"], data["gtkw"] = args.png, args.gtkw
    emit(args, data, table_lines + notes)
