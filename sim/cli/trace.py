"""``pam trace gen``, ``pam trace capture`` and ``pam trace info``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from sim.cli.common import emit, table
from perf.progress import Progress
from golden.traces.locality import generate_locality_trace, locality_stats
from golden.traces.format import generate_trace, read_trace, write_trace


def generate_from_args(args):
    if getattr(args, "locality", False) or getattr(args, "control", False):
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
    trace = generate_from_args(args)
    write_trace(args.out, trace)
    data, lines = _trace_summary(trace, args.out)
    if args.locality or args.control:
        data, lines = _with_stats(trace, data, lines)
    emit(args, data, [f"wrote {args.out}"] + lines)


def cmd_trace_capture(args):
    from golden.decoder.capture import capture_traces
    from golden.decoder.gguf_model import load_model, shipped_text

    out = Path(args.out)
    if args.text:
        try:
            text_name, text = args.text, Path(args.text).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"--text: {args.text}: cannot read as UTF-8 text ({exc})") from None
    else:
        text_name, text = shipped_text()
    if args.prompt_tokens < 1 or args.steps < 1:
        raise ValueError(f"--prompt-tokens and --steps must be >= 1, not {args.prompt_tokens} and {args.steps}")
    if args.offset < 0:
        raise ValueError(f"--offset must be >= 0, not {args.offset}")
    need = args.offset + args.prompt_tokens + (args.steps if args.decode == "text" else 0)
    if len(text.encode("utf-8")) < need:       # a token covers at least one byte: refused before the model loads
        raise ValueError(f"--text: {text_name} holds {len(text.encode('utf-8')):,} bytes, fewer than the {need:,} "
                         f"tokens that --offset, --prompt-tokens and the text-fed steps need")
    layers = sorted(set(args.layers))
    keep = None if args.decode == "greedy" else max(layers) + 1
    weights = load_model(keep)
    if max(layers) >= weights.config.total_layers:
        raise ValueError(f"--layers: {max(layers)} not in 0..{weights.config.total_layers - 1}")
    print(f"[capture] model loaded ({weights.config.layers} layers); a {args.prompt_tokens}-token prompt, then "
          f"{args.steps} decode steps", file=sys.stderr, flush=True)
    progress = Progress(args.steps, "decode steps")
    capture = capture_traces(weights, text, text_name, prompt_tokens=args.prompt_tokens, steps=args.steps,
                             layers=layers, dtype=args.dtype, decode=args.decode, offset=args.offset,
                             on_step=lambda s: progress.step(f"step {s}"))
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for layer, trace in capture.traces.items():
        path = out / f"layer{layer:02d}.npz"
        write_trace(path, trace)
        paths.append(str(path))
    source = weights.source
    data = {"files": paths, "layers": layers, "prompt_tokens": args.prompt_tokens, "steps": args.steps,
            "dtype": args.dtype, "decode": args.decode, "text": text_name, "offset": args.offset,
            "prompt_perplexity": capture.perplexity, "continuation": capture.continuation,
            "package": source.package, "package_version": source.version, "sha256": source.sha256}
    ppl = "n/a (a slice of the model)" if capture.perplexity is None else f"{capture.perplexity:.2f}"
    emit(args, data, [f"wrote {len(paths)} traces to {out}: layers {', '.join(map(str, layers))} "
                      f"({args.prompt_tokens} prompt tokens + {args.steps} steps, {args.dtype}, kv heads 3, q heads 9)",
                      f"  model {source.package} {source.version}, sha256 {source.sha256[:16]}…; text {text_name}",
                      f"  prompt perplexity {ppl}; {args.decode} continuation: {capture.continuation!r}"])


def cmd_trace_info(args):
    summaries = []
    for path in args.files:
        trace = read_trace(path)
        data, lines = _trace_summary(trace, path)
        if args.stats:
            data, lines = _with_stats(trace, data, lines)
        summaries.append((data, lines))
    if len(summaries) == 1:
        emit(args, *summaries[0])
        return
    lines = [line for _, ls in summaries for line in ls]
    if args.stats:
        lines += ["", "realised attention, side by side (mean over steps and query heads):"]
        lines += table([(d["path"], d["info"].get("generator", "-") + (f" layer {d['info']['layer']}"
                                                                         if "layer" in d["info"] else ""),
                         f"{100 * d['locality']['top1_mass']:.1f}%", f"{100 * d['locality']['top10_mass']:.1f}%",
                         f"{100 * d['locality']['sink_mass']:.1f}%", f"{100 * d['locality']['recent_mass']:.1f}%",
                         "-" if d["locality"]["topk_overlap"] is None else f"{100 * d['locality']['topk_overlap']:.1f}%")
                        for d, _ in summaries],
                       ("trace", "source", "top 1%", "top 10%", "sinks", "newest 64", "top-1% overlap"))
    emit(args, {"traces": [d for d, _ in summaries]}, lines)
