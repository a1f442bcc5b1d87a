"""Floating-point multiplier (golden ``fmul``): one rounding of the exact product."""

from __future__ import annotations

from amaranth import Const, Module, Mux
from amaranth.lib import data

from golden.formats import FloatFormat

from .fpcore import pack_special, round_pack, unpack
from .pipeline import Pipeline, PipelinedUnit

__all__ = ["FMUL_LATENCY", "fmul_datapath", "FMul"]

FMUL_LATENCY = 2


def fmul_datapath(m: Module, pipe: Pipeline, a, b, fmt: FloatFormat, out: FloatFormat, name: str):
    """a·b for ``fmt`` operands, rounded to ``out``. Stage 1: exact product. Stage 2: round."""
    x = unpack(m, a, fmt, f"{name}_a")
    y = unpack(m, b, fmt, f"{name}_b")
    product = pipe.register(f"{name}_s1_product", x.sig * y.sig)
    exp = pipe.register(f"{name}_s1_exp", x.exp + y.exp)
    sign = pipe.register(f"{name}_s1_sign", x.sign ^ y.sign)
    is_nan = pipe.register(f"{name}_s1_nan", x.is_nan | y.is_nan | (x.is_inf & y.is_zero) | (y.is_inf & x.is_zero))
    is_inf = pipe.register(f"{name}_s1_inf", x.is_inf | y.is_inf)
    rounded = round_pack(m, sign, product, exp, out, f"{name}_round")
    result = Mux(is_nan, Const(out.qnan, out.width), Mux(is_inf, pack_special(sign, out, inf=True), rounded))
    return pipe.register(f"{name}_s2_result", result)


class FMul(PipelinedUnit):
    """Multiply: ``o = round_out(a · b)``, IEEE round to nearest even, canonical NaN.

    Parameters
    ----------
    fmt : FloatFormat
        Operand format.
    out : FloatFormat, optional
        Result format (default ``fmt``); FP32 makes FP16/BF16 products exact.

    Latency 2, one result per cycle.
    """

    latency = FMUL_LATENCY

    def __init__(self, fmt: FloatFormat, out: FloatFormat | None = None):
        self._fmt = fmt
        self._out = fmt if out is None else out
        super().__init__(data.StructLayout({"a": fmt.width, "b": fmt.width}), self._out.width)

    def datapath(self, m, pipe, payload):
        return fmul_datapath(m, pipe, payload.a, payload.b, self._fmt, self._out, "mul")
