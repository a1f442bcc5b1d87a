"""``pam golden``: the golden models on a trace, or the error sweep."""

from __future__ import annotations

import numpy as np

from golden.accuracy import (ATTENTION_BOUND_EPS, UNITS, attention_bound, attention_error, attention_error_bound,
                             rescale_limit, unit_error)
from golden.formats import FP32, format_by_name
from golden.hwmodel import HwConfig, pam_attention_hw
from golden.pamattention import pam_attention_f64
from golden.reference import decode_attention
from sim.cli.common import emit, table
from sim.cli.trace import generate_from_args
from perf.progress import Progress
from golden.traces.format import DISTRIBUTIONS, generate_trace, read_trace


def _golden_units(args):
    rows = [unit_error(name, format_by_name(f)) for name in UNITS for f in ("fp16", "bf16")]
    emit(args, {"units": rows}, table(
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
    diff = np.abs(hw - ref).max(axis=1) / np.maximum(np.abs(ref).max(axis=1), np.finfo(float).tiny)
    return dict(step=step, pam_f64_rel_err=attention_error(f64, ref)["max_rel_err"], per_head=diff,
                **attention_error(hw, ref))


SWEEP_CONTEXTS = (1, 7, 256, 4096, 32768)


def _golden_sweep(args):
    """Error of the hardware-order model over formats, accumulators, distributions, head_dim, context."""
    contexts = [n for n in SWEEP_CONTEXTS if n <= args.max_tokens]
    rows = []
    progress = Progress(2 * len(DISTRIBUTIONS) * 2 * len(contexts), "error sweep")
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
                    progress.step(f"{dtype} {dist} d={head_dim} n={tokens}, worst so far "
                                  f"{max(r['rel_err_eps'] for r in rows[-4:]):.3f} eps")
    worst = {}
    for r in rows:
        key = (r["format"], r["acc"], r["dist"])
        worst[key] = max(worst.get(key, 0.0), r["rel_err_eps"])
    summary = [dict(format=f, acc=a, dist=d, worst_rel_err_eps=w) for (f, a, d), w in sorted(worst.items())]
    emit(args, {"rows": rows, "worst": summary, "bound_eps_fp32_acc": ATTENTION_BOUND_EPS},
          [f"worst normwise relative error over d in (64, 128), n in {contexts}, 1 and 8 banks (units of eps):"]
          + table([(w["format"], w["acc"], w["dist"], f"{w['worst_rel_err_eps']:.3f}") for w in summary],
                   ("format", "acc", "dist", "worst / eps")))


def cmd_golden(args):
    if args.units:
        return _golden_units(args)
    if args.sweep:
        return _golden_sweep(args)
    if not args.trace and args.banks > args.tokens:                       # before the case is generated
        raise ValueError(f"--banks: {args.banks} banks for {args.tokens} tokens leaves banks empty; at most --tokens")
    trace = read_trace(args.trace) if args.trace else generate_from_args(args)
    if args.banks > trace.tokens:
        raise ValueError(f"--banks: {args.banks} banks for the trace's {trace.tokens} tokens leaves banks empty")
    acc = FP32 if args.acc == "fp32" else trace.fmt
    cfg = HwConfig(trace.fmt, acc, args.lanes, args.block)
    envelope = attention_bound(trace.fmt, acc)
    q, k, v = trace.as_float()
    steps = []
    for step in range(trace.steps):
        n = trace.context(step)
        parts = np.array_split(np.arange(n), args.banks)
        row = _golden_case(trace, step, cfg, parts)
        if acc == FP32:          # the derived bound, per head; the error is each head's too
            limit = rescale_limit([len(p) for p in parts], cfg.block_tokens, args.banks + 1)
            bounds = attention_error_bound(q[step], k[:n], v[:n], trace.fmt, limit)
            share = float((row.pop("per_head") / bounds).max())
            row.update(bound_share=share, within_bound=share <= 1.0)
        else:
            row.pop("per_head")
        steps.append(row)
    worst = {key: max(s[key] for s in steps) for key in ("max_abs_err", "max_rel_err", "pam_f64_rel_err")}
    within = None if acc != FP32 else all(s["within_bound"] for s in steps)
    if within is not None:
        worst["bound_share"] = max(s["bound_share"] for s in steps)
    data = dict(worst, format=trace.fmt.name, acc=acc.name, tokens=trace.tokens, lanes=cfg.lanes,
                block_tokens=cfg.block_tokens, banks=args.banks, steps=steps, within_bound=within,
                envelope_rel_err=envelope,
                within_envelope=None if envelope is None else worst["max_rel_err"] <= envelope)
    lines = [f"hardware-order PAMattention vs float64 reference: {trace.fmt}, acc {acc}, W={cfg.lanes}, "
             f"B={cfg.block_tokens}, {trace.tokens} tokens over {args.banks} banks"]
    lines += table([(s["step"], f"{s['max_abs_err']:.3e}", f"{s['max_rel_err']:.3e}",
                      f"{s['max_rel_err'] / trace.fmt.eps:.3f}",
                      f"{s['bound_share']:.2f}" if "bound_share" in s else "-",
                      f"{s['pam_f64_rel_err']:.1e}") for s in steps],
                    ("step", "max abs err", "max rel err", "rel err / eps", "err / bound", "PAM f64 rel err"))
    if within is not None:
        lines.append(f"derived bound (golden.accuracy.attention_error_bound, per head and step): "
                     f"{'within' if within else 'EXCEEDED'}, worst error/bound {worst['bound_share']:.2f}; the "
                     f"synthetic traces' envelope "
                     f"{ATTENTION_BOUND_EPS:g} eps = {envelope:.3e}: "
                     f"{'within' if data['within_envelope'] else 'exceeded (real attention can)'}")
    emit(args, data, lines)
    if within is False:
        return 1
