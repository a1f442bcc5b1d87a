"""The catalogue of floating-point units: how to build each, and its golden operation.

Used by the tests, ``pam verilog`` and ``pam bench fp``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from golden import elementary, fpops
from golden.formats import BF16, FP16, FP32, FloatFormat

from .fadd import FAdd
from .fconvert import FConvert
from .fexp2 import FExp2
from .fmax import FMax
from .fmul import FMul
from .freciprocal import FReciprocal

__all__ = ["UnitSpec", "UNIT_SPECS", "unit_spec", "unit_formats"]


@dataclasses.dataclass(frozen=True)
class UnitSpec:
    """One unit kind.

    ``build(fmt)`` makes the Amaranth component; ``golden(fmt, a, b)`` gives the
    expected bit patterns (``b`` is ignored by unary units); ``formats`` are the
    formats it is made for; ``in_fmt``/``out_fmt`` map the unit's format to its
    operand and result formats.
    """

    name: str
    arity: int
    formats: tuple[FloatFormat, ...]
    build: Callable[[FloatFormat], object]
    golden: Callable[[FloatFormat, np.ndarray, np.ndarray], np.ndarray]
    in_fmt: Callable[[FloatFormat], FloatFormat] = lambda f: f
    out_fmt: Callable[[FloatFormat], FloatFormat] = lambda f: f
    doc: str = ""


ALL = (FP16, BF16, FP32)
NARROW = (FP16, BF16)

UNIT_SPECS = {s.name: s for s in (
    UnitSpec("fmul", 2, ALL, FMul, lambda f, a, b: fpops.fmul(a, b, f), doc="a·b, rounded to the format"),
    UnitSpec("fmul_wide", 2, NARROW, lambda f: FMul(f, FP32), lambda f, a, b: fpops.fmul(a, b, f, out=FP32),
             out_fmt=lambda f: FP32, doc="a·b of 16-bit operands, exact in FP32"),
    UnitSpec("fadd", 2, ALL, FAdd, lambda f, a, b: fpops.fadd(a, b, f), doc="a+b"),
    UnitSpec("fmax", 2, ALL, FMax, lambda f, a, b: fpops.fmax(a, b, f), doc="IEEE maximum"),
    UnitSpec("fexp2", 1, NARROW, FExp2, lambda f, a, b: elementary.exp2(a, f), doc="2**a (table + interpolation)"),
    UnitSpec("freciprocal", 1, NARROW, FReciprocal, lambda f, a, b: elementary.reciprocal(a, f),
             doc="1/a (table + interpolation)"),
    UnitSpec("fwiden", 1, NARROW, lambda f: FConvert(f, FP32), lambda f, a, b: fpops.convert(a, f, FP32),
             out_fmt=lambda f: FP32, doc="16-bit to FP32 (exact)"),
    UnitSpec("fnarrow", 1, NARROW, lambda f: FConvert(FP32, f), lambda f, a, b: fpops.convert(a, FP32, f),
             in_fmt=lambda f: FP32, doc="FP32 to 16-bit (round to nearest even)"),
)}


def unit_spec(name: str) -> UnitSpec:
    try:
        return UNIT_SPECS[name]
    except KeyError:
        raise ValueError(f"unknown unit {name!r}; choose one of {sorted(UNIT_SPECS)}") from None


def unit_formats(spec: UnitSpec) -> list[str]:
    return [f.name for f in spec.formats]
