"""The hardware's exp2 and reciprocal: table plus linear interpolation, in fixed point.

Both units are specified here bit for bit; the RTL builds its ROMs from
:func:`exp2_table` and :func:`reciprocal_table` and follows the same integer
steps. Parameters per format (``p`` = man_bits):

* ``table_bits`` t = (p + 1) // 2 + 1: the table has 2**t + 1 entries
  (FP16: 65, BF16: 33);
* ``table_frac`` Q = p + 4: entries are fixed point with Q fraction bits;
* ``exp2_frac`` F = p + 6: exp2 turns its input into fixed point with F
  fraction bits.

exp2(x), for x in the format:

1. NaN -> canonical NaN, +inf -> +inf, -inf -> +0.
2. X = floor(x * 2**F) as a signed integer, saturated to
   [-(bias + p + 2) * 2**F, (bias + 1) * 2**F] (beyond, 2**x rounds to 0 or inf).
3. n = X >> F (floor), f = X mod 2**F; i = f >> (F - t); r = f mod 2**(F - t).
4. y = T[i] + ((T[i+1] - T[i]) * r >> (F - t)), T[i] = round(2**(i / 2**t) * 2**Q).
5. Result = round_to_nearest_even(y * 2**(n - Q)), subnormals and overflow included.

reciprocal(x):

1. NaN -> NaN, +-inf -> +-0, +-0 -> +-inf.
2. Normalise the significand (subnormals too) to m = 1.f, f of p bits, x = m * 2**e.
3. i = f >> (p - t); r = f mod 2**(p - t).
4. y = R[i] - ((R[i] - R[i+1]) * r >> (p - t)), R[i] = round(2**Q / (1 + i / 2**t)).
5. Result = round_to_nearest_even(sign * y * 2**(-Q - e)).

Measured errors over all 65,536 inputs are in ``docs/numerics.md``
(``pam golden --units`` regenerates them).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from .formats import FloatFormat
from .fpops import bit_length, decode, round_pack

__all__ = ["ElementaryParams", "elementary_params", "exp2_table", "reciprocal_table",
           "exp2", "reciprocal"]


@dataclasses.dataclass(frozen=True)
class ElementaryParams:
    """Fixed-point sizes of the exp2 and reciprocal units for one format."""

    table_bits: int
    table_frac: int
    exp2_frac: int
    exp2_min: int   # smallest integer part kept; below it 2**x rounds to 0
    exp2_max: int   # integer part at and above which 2**x overflows

    @property
    def entries(self) -> int:
        return (1 << self.table_bits) + 1


def elementary_params(fmt: FloatFormat) -> ElementaryParams:
    p = fmt.man_bits
    return ElementaryParams(
        table_bits=(p + 1) // 2 + 1,
        table_frac=p + 4,
        exp2_frac=p + 6,
        exp2_min=-(fmt.bias + p + 2),
        exp2_max=fmt.bias + 1,
    )


@functools.cache
def exp2_table(fmt: FloatFormat) -> tuple[int, ...]:
    """T[i] = round(2**(i / 2**t) * 2**Q) for i = 0 .. 2**t (ROM contents)."""
    prm = elementary_params(fmt)
    i = np.arange(prm.entries)
    return tuple(int(v) for v in np.rint(np.exp2(i / (1 << prm.table_bits)) * 2.0 ** prm.table_frac))


@functools.cache
def reciprocal_table(fmt: FloatFormat) -> tuple[int, ...]:
    """R[i] = round(2**Q / (1 + i / 2**t)) for i = 0 .. 2**t (ROM contents)."""
    prm = elementary_params(fmt)
    i = np.arange(prm.entries)
    return tuple(int(v) for v in np.rint(2.0 ** prm.table_frac / (1 + i / (1 << prm.table_bits))))


def exp2(x, fmt: FloatFormat) -> np.ndarray:
    """2**x on bit patterns of ``fmt``, as specified in the module docstring."""
    prm = elementary_params(fmt)
    table = np.array(exp2_table(fmt), dtype=np.int64)
    sign, sig, exp, is_inf, is_nan = decode(x, fmt)
    frac = prm.exp2_frac
    # Saturate the magnitude before the fixed-point shift: any |x| at or above
    # 2**(exp_bits) lies outside [exp2_min, exp2_max] anyway.
    huge = exp + bit_length(sig) - 1 >= fmt.exp_bits
    shift = exp + frac
    left = np.clip(shift, 0, 62 - fmt.precision)
    right = np.clip(-shift, 0, 63)
    magnitude = (sig << left) >> right
    truncated = (magnitude << right) != (sig << left)
    fixed = np.where(sign == 1, -magnitude - truncated, magnitude)  # floor(x * 2**F)
    limit_lo, limit_hi = prm.exp2_min << frac, prm.exp2_max << frac
    fixed = np.where(huge, np.where(sign == 1, limit_lo, limit_hi), fixed)
    fixed = np.clip(fixed, limit_lo, limit_hi)
    n = fixed >> frac
    f = fixed & ((1 << frac) - 1)
    low = frac - prm.table_bits
    i = f >> low
    r = f & ((1 << low) - 1)
    y = table[i] + (((table[i + 1] - table[i]) * r) >> low)
    result = round_pack(np.zeros_like(y), y, n - prm.table_frac, fmt)
    result = np.where(is_inf, np.where(sign == 1, 0, fmt.inf), result)
    return np.where(is_nan, fmt.qnan, result)


def reciprocal(x, fmt: FloatFormat) -> np.ndarray:
    """1/x on bit patterns of ``fmt``, as specified in the module docstring."""
    prm = elementary_params(fmt)
    table = np.array(reciprocal_table(fmt), dtype=np.int64)
    p = fmt.man_bits
    sign, sig, exp, is_inf, is_nan = decode(x, fmt)
    zero = (sig == 0) & ~is_inf & ~is_nan
    # Normalise subnormals: bring the leading one to bit p.
    lead = np.maximum(bit_length(sig) - 1, 0)
    norm = sig << (p - lead)
    e = exp - (p - lead) + p             # x = (norm / 2**p) * 2**e
    f = norm - (1 << p)
    low = p - prm.table_bits
    i = f >> low
    r = f & ((1 << low) - 1)
    y = table[i] - (((table[i] - table[i + 1]) * r) >> low)
    result = round_pack(sign, y, -prm.table_frac - e, fmt)
    signed_inf = (sign << (fmt.width - 1)) | fmt.inf
    result = np.where(zero, signed_inf, result)
    result = np.where(is_inf, sign << (fmt.width - 1), result)
    return np.where(is_nan, fmt.qnan, result)
