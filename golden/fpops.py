"""Bit-exact floating-point operations on bit patterns.

This module is the *specification* of the hardware's basic arithmetic. Every
function takes and returns NumPy integer arrays of bit patterns and is pure.

Contract, for every format:

* multiply, add and convert round the exact result once, to nearest, ties to
  even (IEEE 754 roundTiesToEven), with gradual underflow (subnormal inputs and
  outputs) and overflow to infinity;
* exact zero sums are +0, except (-0) + (-0) = -0;
* any NaN result is the canonical quiet NaN of the output format
  (:attr:`FloatFormat.qnan`), whatever the NaN inputs were;
* inf * 0 and inf + (-inf) are NaN.

``fmax`` is IEEE 754-2019 ``maximum``: NaN if either input is NaN (canonical
NaN), and +0 is greater than -0.

All internal arithmetic is on int64. A significand never exceeds 62 bits: the
widest format here is FP32 (24-bit significand), whose exact product is 48 bits.
"""

from __future__ import annotations

import numpy as np

from .formats import FloatFormat

__all__ = [
    "decode", "round_pack", "bit_length", "fmul", "fadd", "fneg", "fmax", "convert", "order_key",
]

_I64 = np.int64


def _bits(x, fmt: FloatFormat) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "ui":
        raise TypeError(f"bit patterns must be an integer array, not dtype {x.dtype}")
    return x.astype(_I64) & ((1 << fmt.width) - 1)


def decode(x, fmt: FloatFormat):
    """Split bit patterns into sign, integer significand and exponent.

    A finite value equals ``(-1)**sign * sig * 2**exp``; zero has ``sig == 0``.
    For inf and NaN, ``sig`` and ``exp`` are meaningless: use the masks.

    Returns
    -------
    sign, sig, exp : int64 arrays
    is_inf, is_nan : bool arrays
    """
    x = _bits(x, fmt)
    sign = x >> (fmt.width - 1)
    efield = (x >> fmt.man_bits) & fmt.exp_max
    frac = x & ((1 << fmt.man_bits) - 1)
    normal = efield != 0
    sig = np.where(normal, frac | (1 << fmt.man_bits), frac)
    exp = np.where(normal, efield, 1) - fmt.bias - fmt.man_bits
    special = efield == fmt.exp_max
    return sign, sig, exp.astype(_I64), special & (frac == 0), special & (frac != 0)


def bit_length(m: np.ndarray) -> np.ndarray:
    """Exact bit length of non-negative int64 values (0 for 0)."""
    _, e = np.frexp(m.astype(np.float64))
    e = e.astype(_I64)
    # float64 rounding can carry into the next power of two: correct by one.
    too_big = (e > 0) & ((m >> np.maximum(e - 1, 0)) == 0)
    return e - too_big


def _shift_right_sticky(m: np.ndarray, n: np.ndarray):
    """m >> n for n >= 0 (any size), and whether any 1 bit was shifted out."""
    n = np.minimum(n, 63)
    kept = m >> n
    lost = m - (kept << n)
    return kept, lost != 0


def round_pack(sign, sig, exp, fmt: FloatFormat, sticky=None) -> np.ndarray:
    """Round ``(-1)**sign * (sig + f) * 2**exp`` to ``fmt``, ties to even.

    ``sticky`` marks values whose exact significand has a non-zero fraction f
    in (0, 1) beyond ``sig``; it only matters when ``sig`` is already wider
    than the target precision (adders supply it after alignment).

    Returns bit patterns of ``fmt`` (int64). Overflow gives infinity.
    """
    sign = np.asarray(sign, dtype=_I64)
    sig = np.asarray(sig, dtype=_I64)
    exp = np.asarray(exp, dtype=_I64)
    sticky = np.zeros(sig.shape, bool) if sticky is None else np.asarray(sticky, bool)
    p = fmt.precision
    length = bit_length(sig)
    # Biased exponent the leading bit would have as a normal number.
    ebiased = exp + length - 1 + fmt.bias
    # Right shift that leaves p bits (normal) or aligns to the subnormal grid.
    shift = length - p + np.maximum(1 - ebiased, 0)
    left = np.maximum(-shift, 0)
    right = np.maximum(shift, 0)
    # sig < 2**62, so a shift of 63 already clears it: clamp there.
    r = np.minimum(right, 63)
    kept = sig >> r
    # The round bit is the highest bit shifted out; the bits below it, plus
    # the incoming sticky, form the sticky bit.
    round_pos = np.maximum(r - 1, 0)
    round_bit = (r > 0) & (((sig >> round_pos) & 1) == 1)
    rest = ((r > 0) & ((sig & ((_I64(1) << round_pos) - 1)) != 0)) | sticky
    kept = kept << np.minimum(left, 62)
    round_up = round_bit & (rest | ((kept & 1) == 1))
    kept = kept + round_up
    # Normal: field = (ebiased - 1) << man_bits + significand-with-hidden-bit,
    # so a rounding carry walks into the exponent. Subnormal: field = significand.
    field = (np.maximum(ebiased, 1) - 1) * (_I64(1) << fmt.man_bits) + kept
    field = np.where(sig == 0, 0, field)
    field = np.minimum(field, fmt.inf)
    return (sign << (fmt.width - 1)) | field


def fmul(a, b, fmt: FloatFormat, out: FloatFormat | None = None) -> np.ndarray:
    """``a * b`` for operands in ``fmt``, rounded once to ``out`` (default ``fmt``)."""
    out = fmt if out is None else out
    sa, ma, ea, ia, na = decode(a, fmt)
    sb, mb, eb, ib, nb = decode(b, fmt)
    sign = sa ^ sb
    result = round_pack(sign, ma * mb, ea + eb, out)
    zero_a = (ma == 0) & ~ia & ~na
    zero_b = (mb == 0) & ~ib & ~nb
    inf = (sign << (out.width - 1)) | out.inf
    result = np.where(ia | ib, inf, result)
    nan = na | nb | (ia & zero_b) | (ib & zero_a)
    return np.where(nan, out.qnan, result)


def fadd(a, b, fmt: FloatFormat, out: FloatFormat | None = None) -> np.ndarray:
    """``a + b`` for operands in ``fmt``, rounded once to ``out`` (default ``fmt``)."""
    out = fmt if out is None else out
    sa, ma, ea, ia, na = decode(a, fmt)
    sb, mb, eb, ib, nb = decode(b, fmt)
    # Order the operands so that |x| >= |y|; zeros take the smallest exponent.
    ea_ = np.where(ma == 0, np.iinfo(np.int32).min, ea)
    eb_ = np.where(mb == 0, np.iinfo(np.int32).min, eb)
    a_big = (ea_ > eb_) | ((ea_ == eb_) & (ma >= mb))
    sx, mx, ex = np.where(a_big, sa, sb), np.where(a_big, ma, mb), np.where(a_big, ea, eb)
    sy, my, ey = np.where(a_big, sb, sa), np.where(a_big, mb, ma), np.where(a_big, eb, ea)
    # Guard bits: enough that a sticky borrow never reaches the kept bits.
    guard = fmt.precision + 3
    mx = mx << guard
    my = my << guard
    dist = np.where(my == 0, 0, np.maximum(ex - ey, 0))
    my, sticky = _shift_right_sticky(my, dist)
    subtract = sx != sy
    total = np.where(subtract, mx - my - sticky, mx + my)
    zero_sum = (total == 0) & ~sticky
    sign = np.where(zero_sum, sx & sy, sx)
    result = round_pack(sign, total, ex - guard, out, sticky)
    result = np.where(zero_sum, sign << (out.width - 1), result)
    inf_sign = np.where(ia, sa, sb)
    result = np.where(ia | ib, (inf_sign << (out.width - 1)) | out.inf, result)
    nan = na | nb | (ia & ib & (sa != sb))
    return np.where(nan, out.qnan, result)


def fneg(a, fmt: FloatFormat) -> np.ndarray:
    """Flip the sign bit (exact, NaN included: it is a bit operation, not arithmetic)."""
    return _bits(a, fmt) ^ fmt.sign_mask


def order_key(a, fmt: FloatFormat) -> np.ndarray:
    """An int64 key whose integer order is the float order, with -0 < +0 (NaN: unordered)."""
    a = _bits(a, fmt)
    magnitude = a & ~fmt.sign_mask
    return np.where(a >> (fmt.width - 1) == 1, -magnitude - 1, magnitude)


def fmax(a, b, fmt: FloatFormat) -> np.ndarray:
    """IEEE 754-2019 ``maximum``: NaN-propagating, +0 > -0."""
    a, b = _bits(a, fmt), _bits(b, fmt)
    result = np.where(order_key(a, fmt) >= order_key(b, fmt), a, b)
    return np.where(fmt.is_nan(a) | fmt.is_nan(b), fmt.qnan, result)


def convert(a, src: FloatFormat, dst: FloatFormat) -> np.ndarray:
    """Convert ``src`` bit patterns to ``dst``, rounding to nearest even."""
    s, m, e, is_inf, is_nan = decode(a, src)
    result = round_pack(s, m, e, dst)
    result = np.where(is_inf, (s << (dst.width - 1)) | dst.inf, result)
    return np.where(is_nan, dst.qnan, result)
