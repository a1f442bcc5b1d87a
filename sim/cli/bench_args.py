"""The options of ``pam bench ...`` (run by ``sim.cli.bench``)."""

from __future__ import annotations

from sim.cli.common import positive_ints
from sim.cli.options import TRACE_DTYPES
from sim.inputs import integer, real


def add_commands(root, command) -> None:
    """Add this group's commands to ``root`` (the subparsers of ``pam``); ``command(name, func, help[, parent])``
    makes one, run by ``func`` ("module:function" of ``sim.cli``)."""
    bench = root.add_parser("bench", help="benchmarks", description="benchmarks: figures, not pass/fail")
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
    p.add_argument("--dtype", default="fp16", choices=TRACE_DTYPES, help="format (default %(default)s)")
    p.add_argument("--seed", type=integer, default=1, help="trace seed (default %(default)s)")

    p = command("device", "bench:cmd_bench_device", "one decode step on the system top under Verilator: cycles per "
                "device, reduction tail after the last PU, RU/PU overlap", bench_sub)
    p.add_argument("--tokens", type=integer, default=384, help="context, dealt round robin over the banks "
                   "(default %(default)s)")
    p.add_argument("--head-dim", type=integer, default=32, help="head_dim (default %(default)s)")
    p.add_argument("--group", type=integer, default=2, help="GQA group size (default %(default)s)")
    p.add_argument("--dtype", default="fp16", choices=TRACE_DTYPES, help="format (default %(default)s)")
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
    p.add_argument("--dtype", default="fp16", choices=TRACE_DTYPES, help="format (default %(default)s)")
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
