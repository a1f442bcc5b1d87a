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

__all__ = ["UNITS", "unit_error", "attention_error", "ATTENTION_BOUND_EPS", "attention_bound"]

UNITS = {"exp2": (exp2, np.exp2), "reciprocal": (reciprocal, lambda x: 1.0 / x)}

# Stated bound for the default datapath (FP32 accumulation): max_rel_err <=
# C · eps(fmt). The measured worst case over the sweep in docs/numerics.md
# (`pam golden --sweep`) is 2.0 eps (FP16, heavy-tailed); the bound keeps a 2x margin.
ATTENTION_BOUND_EPS = 4.0


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
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    diff = np.abs(out - ref)
    scale = np.abs(ref).max(axis=1)
    per_head = diff.max(axis=1) / np.where(scale > 0, scale, 1.0)
    return {"max_abs_err": float(diff.max()), "max_rel_err": float(per_head.max())}


def attention_bound(fmt: FloatFormat, acc: FloatFormat) -> float | None:
    """The stated bound on ``max_rel_err``, or None where none is stated (16-bit accumulation)."""
    return ATTENTION_BOUND_EPS * fmt.eps if acc == FP32 else None
