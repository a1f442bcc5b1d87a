"""Stimulus and the bit-exact checker for the floating-point units.

One checker serves the amaranth.sim tests, the cocotb testbenches and ``pam bench
fp``. A mismatch message holds the unit, format, inputs, expected and got bit
patterns, so it can be reproduced from the message alone.
"""

from __future__ import annotations

import itertools

import numpy as np

from golden.formats import FloatFormat
from hw.fp.units import UnitSpec

__all__ = ["FPMismatch", "special_values", "special_pairs", "stimulus", "check_unit"]


class FPMismatch(AssertionError):
    """The unit's output differs from the golden operation."""


def special_values(fmt: FloatFormat) -> np.ndarray:
    """±0, ±smallest and largest subnormal, ±smallest and largest normal, ±1, ±inf, quiet and signalling NaN."""
    mags = [0, 1, (1 << fmt.man_bits) - 1, 1 << fmt.man_bits, fmt.max_finite, fmt.one, fmt.inf]
    return np.array([m | s for m in mags for s in (0, fmt.sign_mask)] + [fmt.qnan, fmt.inf | 1], np.int64)


def special_pairs(fmt: FloatFormat) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair of special values."""
    s = special_values(fmt)
    a, b = zip(*itertools.product(s, s))
    return np.array(a, np.int64), np.array(b, np.int64)


def stimulus(fmt: FloatFormat, random_pairs: int, seed: int, exhaustive: bool = True):
    """Operand streams (a, b) for a unit of format ``fmt`` (operands up to 32 bits).

    For 16-bit formats: all 2**16 values of ``a`` (``b`` random), then every
    pair of special values, then ``random_pairs`` random pairs of 32-bit
    patterns (16-bit units read the low half).
    """
    rng = np.random.default_rng(seed)
    parts_a, parts_b = [], []
    if exhaustive and fmt.width == 16:
        parts_a.append(np.arange(1 << 16, dtype=np.int64))
        parts_b.append(rng.integers(0, 1 << 16, 1 << 16))
    sa, sb = special_pairs(fmt)
    parts_a.append(sa)
    parts_b.append(sb)
    parts_a.append(rng.integers(0, 1 << 32, random_pairs))
    parts_b.append(rng.integers(0, 1 << 32, random_pairs))
    return np.concatenate(parts_a), np.concatenate(parts_b)


def check_unit(spec: UnitSpec, fmt: FloatFormat, a, b, got, limit: int = 5) -> int:
    """Compare ``got`` with the golden result; raise :class:`FPMismatch` listing up to ``limit`` cases.

    Returns the number of values checked.
    """
    in_fmt, out_fmt = spec.in_fmt(fmt), spec.out_fmt(fmt)
    mask = (1 << in_fmt.width) - 1
    a = np.asarray(a, np.int64) & mask
    b = np.asarray(b, np.int64) & mask
    got = np.asarray(got, np.int64)
    if got.shape != a.shape:
        raise FPMismatch(f"{spec.name} {fmt}: got {got.size} results for {a.size} inputs")
    want = spec.golden(fmt, a, b)
    bad = np.flatnonzero(got != want)
    if bad.size:
        digits = (in_fmt.width + 3) // 4
        out_digits = (out_fmt.width + 3) // 4
        cases = [f"a=0x{int(a[i]):0{digits}x}" + (f" b=0x{int(b[i]):0{digits}x}" if spec.arity == 2 else "")
                 + f" expected=0x{int(want[i]):0{out_digits}x} got=0x{int(got[i]):0{out_digits}x}"
                 for i in bad[:limit]]
        raise FPMismatch(f"{spec.name} {fmt}: {bad.size} of {a.size} results differ from golden; "
                         + "; ".join(cases))
    return int(a.size)
