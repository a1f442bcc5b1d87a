"""Error measurement: elementary units over all inputs, attention against float64.

The attention error is *normwise per head*: for each query head h,
``max_i |out[h, i] - ref[h, i]| / max_i |ref[h, i]|``, and ``max_rel_err`` is
the worst head. Elementwise relative error is meaningless where an output
element is near zero, which attention outputs often are.
"""

from __future__ import annotations

import numpy as np

from .elementary import exp2, reciprocal
from .formats import FP32, FloatFormat
from .reference import check_float, check_shapes, decode_attention

__all__ = ["UNITS", "unit_error", "attention_error", "ATTENTION_BOUND_EPS", "attention_bound",
           "attention_error_bound", "rescale_limit"]

UNITS = {"exp2": (exp2, np.exp2), "reciprocal": (reciprocal, lambda x: 1.0 / x)}

# The envelope of the synthetic traces (FP32 accumulation): max_rel_err <= C · eps(fmt). The measured worst
# case over the sweep in docs/numerics.md (`pam golden --sweep`) is 2.0 eps (FP16, heavy-tailed), so it keeps a
# 2x margin there. Real attention exceeds it (up to 8.2 eps, SmolLM2 layer 7): the bound that holds for any input is
# ``attention_error_bound``, computed from the data.
ATTENTION_BOUND_EPS = 4.0

# Worst errors of the units, in eps(fmt) relative to the result (docs/numerics.md, measured exhaustively):
# exp2 <= 0.587 ulp (FP16), 0.566 (BF16); reciprocal <= 0.712 ulp (FP16), 0.594 (BF16); one ulp <= eps.
EXP2_EPS = 0.6
RECIPROCAL_EPS = 0.72


def unit_error(name: str, fmt: FloatFormat) -> dict:
    """Exhaustive error of an elementary unit over all 2**width inputs of ``fmt``.

    ``max_ulp`` is ``|got - exact| / ulp(exact)`` over inputs whose correctly
    rounded result is finite; ``correctly_rounded`` is the fraction of non-NaN
    inputs whose result equals the correctly rounded one; ``special_mismatches``
    counts inputs where the unit and correct rounding disagree on NaN or inf.
    """
    try:
        unit, exact_fn = UNITS[name]
    except KeyError:
        raise ValueError(f"unknown unit {name!r}; choose one of {sorted(UNITS)}") from None
    x = np.arange(1 << fmt.width, dtype=np.int64)
    with np.errstate(all="ignore"):
        exact = exact_fn(fmt.to_float(x))
    got = unit(x, fmt)
    rounded = fmt.from_float(exact).astype(np.int64)
    nan = np.isnan(exact)
    special = (fmt.is_nan(got) != nan) | (~nan & (fmt.is_inf(got) != fmt.is_inf(rounded)))
    finite = ~nan & ~fmt.is_inf(rounded) & ~fmt.is_inf(got)
    err = np.abs(fmt.to_float(got[finite]) - exact[finite]) / fmt.ulp(exact[finite])
    worst = int(x[finite][np.argmax(err)])
    return {
        "unit": name, "format": fmt.name, "inputs": int(x.size),
        "max_ulp": float(err.max()), "worst_input": f"0x{worst:04x}",
        "correctly_rounded": float(np.mean(got[~nan] == rounded[~nan])),
        "special_mismatches": int(special.sum()),
    }


def attention_error(out, ref) -> dict:
    """Error of ``out`` against the float64 reference ``ref``, both [q_heads, head_dim] floats."""
    out, ref = check_float("out", out), check_float("ref", ref)
    if ref.ndim != 2:
        raise ValueError(f"ref: shape {ref.shape}, expected [q_heads, head_dim]")
    if out.shape != ref.shape:
        raise ValueError(f"out: shape {out.shape}, expected ref's shape {ref.shape} [q_heads, head_dim]")
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    diff = np.abs(out - ref)
    scale = np.abs(ref).max(axis=1)
    per_head = diff.max(axis=1) / np.where(scale > 0, scale, 1.0)
    return {"max_abs_err": float(diff.max()), "max_rel_err": float(per_head.max())}


def attention_bound(fmt: FloatFormat, acc: FloatFormat) -> float | None:
    """The stated bound on ``max_rel_err``, or None where none is stated (16-bit accumulation)."""
    return ATTENTION_BOUND_EPS * fmt.eps if acc == FP32 else None


def attention_error_bound(q, k, v, fmt: FloatFormat, max_rescales: int | None = None) -> np.ndarray:
    """A bound on each query head's normwise error of the hardware datapath (FP32 accumulation) against
    float64, computed from the data, for any placement, block size and reduction tree.

    q : [q_heads, d] floats (unscaled), k, v : [tokens, kv_heads, d] floats, all values of ``fmt``.
    ``max_rescales``: most rescales (PU blocks after the token's, plus RU inputs along its path) any token's
    partial can meet (``rescale_limit``); None: limited by the scores alone.

    With u = eps/2, q' = round(q·log2(e)/sqrt(d)), scores S_t = q'·k_t (log2 units), m = max S and
    p̂_t = 2^(S_t - m) / Σ 2^(S - m), each probability is off by a factor within [1/(1+ρ_t), 1+ρ_t],

        ln(1 + ρ_t) = ln 2 · [(u + d·u32) · Σ_j |q'_j k_tj|  +  2u · (m - S_t)]  +  (1 + r_t) · ln(1 + EXP2_EPS·eps)

    (the rounding of q', the score's FP32 sums, the narrowing of S_t - m at the exp2 input, and the narrowing
    of every rescale argument along the token's path, whose magnitudes add up to at most m - S_t; then the
    exp2 unit once for p_t and once per rescale). A rescale with a non-zero argument needs a larger maximum,
    so r_t = min(#{t' : S_t' > S_t}, max_rescales). The normalised output then moves by at most
    Σ_t p̂_t ρ_t |v_t - out| / (1 - Σ_t p̂_t ρ_t); the final steps (l narrowed, the reciprocal, out narrowed)
    add (1 + RECIPROCAL_EPS)·eps·|out|, and the FP32 sums of O and l (n + r + 2)·u32 per chain:

        |err_i| <= Σ_t p̂_t ρ_t |v_ti - out_i| / (1 - Σ_t p̂_t ρ_t) + (1 + RECIPROCAL_EPS)·eps·|out_i|
                   + (n + r + 2)·u32 · (Σ_t p̂_t |v_ti| + |out_i|)

    Returns the bound on ``attention_error``'s per-head measure, max_i bound_i / max_i |ref_i|: [q_heads].
    """
    q, k, v = check_float("q", q), check_float("k", k), check_float("v", v)
    check_shapes(q, k, v)
    if not isinstance(fmt, FloatFormat):
        raise TypeError(f"fmt: {type(fmt).__name__}, expected a FloatFormat (FP16 or BF16)")
    q, k, v = (np.asarray(x, np.float64) for x in (q, k, v))
    heads, d = q.shape
    n, kv_heads = k.shape[0], k.shape[1]
    group = heads // kv_heads
    u, u32, eps = fmt.eps / 2, FP32.eps / 2, fmt.eps
    qs = fmt.to_float(fmt.from_float(q * (np.log2(np.e) / np.sqrt(d))))
    ref = decode_attention(q, k, v)
    out = np.empty(heads)
    for h in range(heads):
        kh, vh = k[:, h // group], v[:, h // group]
        terms = qs[h] * kh                                               # [n, d]
        s = terms.sum(axis=1)
        gap = s.max() - s
        p = np.exp2(-gap)
        p /= p.sum()
        o = p @ vh
        above = n - 1 - np.argsort(np.argsort(s, kind="stable"), kind="stable")   # tokens scored higher, or tied
        rescales = above if max_rescales is None else np.minimum(above, max_rescales)
        log_rho = (np.log(2) * ((u + d * u32) * np.abs(terms).sum(axis=1) + 2 * u * gap)
                   + (1 + rescales) * np.log1p(EXP2_EPS * eps))
        rho = np.expm1(log_rho)
        spread = p @ rho
        if spread >= 0.5:
            raise ValueError(f"attention_error_bound: the probabilities' relative error ({spread:.3g}) leaves "
                             f"nothing to bound")
        r = int(rescales.max())
        bound = ((p * rho) @ np.abs(vh - o) / (1 - spread) + (1 + RECIPROCAL_EPS) * eps * np.abs(o)
                 + (n + r + 2) * u32 * (p @ np.abs(vh) + np.abs(o)))
        out[h] = bound.max() / max(np.abs(ref[h]).max(), np.finfo(float).tiny)
    return out


def rescale_limit(partition_sizes, block_tokens: int, tree_nodes: int) -> int:
    """Most rescales a token's partial can meet: its bank's later blocks, plus one per RU input along its path
    (at most every node of the reduction tree: ``tree_nodes`` = leaves + internal nodes)."""
    blocks = max((-(-int(size) // block_tokens) for size in partition_sizes), default=0)
    return blocks + tree_nodes
