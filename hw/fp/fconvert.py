"""Format conversion (golden ``convert``): FP16/BF16 <-> FP32, rounding to nearest even."""

from __future__ import annotations

from amaranth import Const, Module, Mux

from golden.formats import FloatFormat

from .fpcore import pack_special, round_pack, unpack
from .pipeline import Pipeline, PipelinedUnit

__all__ = ["FCONVERT_LATENCY", "fconvert_datapath", "FConvert"]

FCONVERT_LATENCY = 2


def fconvert_datapath(m: Module, pipe: Pipeline, a, src: FloatFormat, dst: FloatFormat, name: str):
    """Stage 1: unpack. Stage 2: round to ``dst``."""
    x = unpack(m, a, src, f"{name}_a")
    s1 = {k: pipe.register(f"{name}_s1_{k}", v) for k, v in
          {"sign": x.sign, "sig": x.sig, "exp": x.exp, "inf": x.is_inf, "nan": x.is_nan}.items()}
    rounded = round_pack(m, s1["sign"], s1["sig"], s1["exp"], dst, f"{name}_round")
    result = Mux(s1["nan"], Const(dst.qnan, dst.width), Mux(s1["inf"], pack_special(s1["sign"], dst, inf=True), rounded))
    return pipe.register(f"{name}_s2_result", result)


class FConvert(PipelinedUnit):
    """Convert ``src`` to ``dst``: exact when widening, rounded to nearest even when narrowing.

    Latency 2, one result per cycle.
    """

    latency = FCONVERT_LATENCY

    def __init__(self, src: FloatFormat, dst: FloatFormat):
        self._src, self._dst = src, dst
        super().__init__(src.width, dst.width)

    def datapath(self, m, pipe, payload):
        return fconvert_datapath(m, pipe, payload, self._src, self._dst, "cvt")
