"""``pam trace gen`` and ``pam trace info``."""

from __future__ import annotations

import json

import numpy as np

from sim.cli.common import emit, output_file
from golden.traces.locality import generate_locality_trace, locality_stats
from golden.traces.format import generate_trace, read_trace, write_trace


def generate_from_args(args):
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
    output_file("--out", args.out)
    trace = generate_from_args(args)
    write_trace(args.out, trace)
    data, lines = _trace_summary(trace, args.out)
    if args.locality or args.control:
        data, lines = _with_stats(trace, data, lines)
    emit(args, data, [f"wrote {args.out}"] + lines)


def cmd_trace_info(args):
    trace = read_trace(args.file)
    data, lines = _trace_summary(trace, args.file)
    if args.stats:
        data, lines = _with_stats(trace, data, lines)
    emit(args, data, lines)
