"""Floating-point maximum (golden ``fmax``): IEEE 754-2019 ``maximum``."""

from __future__ import annotations

from amaranth import Const, Module, Mux, Value

from golden.formats import FloatFormat

from .pipeline import BinaryUnit, Pipeline

__all__ = ["FMAX_LATENCY", "fmax_value", "fmax_datapath", "FMax"]

FMAX_LATENCY = 1


def fmax_value(a, b, fmt: FloatFormat):
    """max(a, b), combinational: a sign-magnitude comparator; NaN in gives the canonical NaN; +0 > -0."""
    a, b = Value.cast(a)[:fmt.width], Value.cast(b)[:fmt.width]
    sa, sb = a[-1], b[-1]
    ma, mb = a[:-1], b[:-1]
    a_wins = Mux(sa != sb, ~sa, Mux(sa, ma <= mb, ma >= mb))
    nan = (ma > fmt.inf) | (mb > fmt.inf)
    return Mux(nan, Const(fmt.qnan, fmt.width), Mux(a_wins, a, b))


def fmax_datapath(m: Module, pipe: Pipeline, a, b, fmt: FloatFormat, name: str):
    """max(a, b), registered (latency 1)."""
    return pipe.register(f"{name}_s1_result", fmax_value(a, b, fmt))


class FMax(BinaryUnit):
    """Maximum: NaN-propagating (canonical NaN out), +0 greater than -0. Latency 1."""

    latency = FMAX_LATENCY
    function = staticmethod(fmax_datapath)
    prefix = "max"
