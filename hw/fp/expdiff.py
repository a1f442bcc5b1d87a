"""exp2 of a difference, the step that rescales partials (golden ``hwmodel._exp2_of_difference``).

exp2(round_fmt(a - b)) for accumulator operands: subtract in ``acc``, narrow
to ``fmt``, exp2 in ``fmt``, widen back to ``acc`` (exact). The PU uses it
for α and P, the RU for the two scale factors of a merge.
"""

from __future__ import annotations

from amaranth import Cat, Module

from golden.formats import FloatFormat

from .fadd import FADD_LATENCY, fadd_datapath
from .fconvert import FCONVERT_LATENCY, fconvert_datapath
from .fexp2 import FEXP2_LATENCY, fexp2_datapath
from .pipeline import Pipeline

__all__ = ["EXP2_DIFF_LATENCY", "exp2_difference_datapath"]

EXP2_DIFF_LATENCY = FADD_LATENCY + FCONVERT_LATENCY + FEXP2_LATENCY + FCONVERT_LATENCY


def exp2_difference_datapath(m: Module, pipe: Pipeline, a, b, fmt: FloatFormat, acc: FloatFormat, name: str):
    """Returns (p, wide): p = exp2(round_fmt(a - b)) in ``fmt`` after FADD+CVT+EXP2 cycles, and p in
    ``acc`` after EXP2_DIFF_LATENCY cycles."""
    diff = fadd_datapath(m, pipe, a, Cat(b[:-1], ~b[-1]), acc, f"{name}_sub")
    narrow = fconvert_datapath(m, pipe, diff, acc, fmt, f"{name}_narrow")
    p = fexp2_datapath(m, pipe, narrow, fmt, f"{name}_exp")
    return p, fconvert_datapath(m, pipe, p, fmt, acc, f"{name}_widen")
