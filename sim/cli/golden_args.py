"""The options of ``pam golden`` (run by ``sim.cli.golden``)."""

from __future__ import annotations

from sim.cli.options import add_gen_options
from sim.inputs import integer, trace_file


def add_commands(root, command) -> None:
    """Add this group's commands to ``root`` (the subparsers of ``pam``); ``command(name, func, help[, parent])``
    makes one, run by ``func`` ("module:function" of ``sim.cli``)."""
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
    add_gen_options(p)
