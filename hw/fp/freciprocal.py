"""Reciprocal unit (golden ``elementary.reciprocal``): table plus linear interpolation."""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, signed

from golden.elementary import elementary_params, reciprocal_table
from golden.formats import FloatFormat

from .fexp2 import interpolation_rom
from .fpcore import bit_length, pack_special, round_pack, unpack
from .pipeline import UnaryUnit, Pipeline

__all__ = ["FRECIPROCAL_LATENCY", "freciprocal_datapath", "FReciprocal"]

FRECIPROCAL_LATENCY = 3


def freciprocal_datapath(m: Module, pipe: Pipeline, a, fmt: FloatFormat, name: str):
    """1/a. Stage 1: normalise. Stage 2: table and interpolation. Stage 3: round."""
    prm = elementary_params(fmt)
    p = fmt.man_bits
    x = unpack(m, a, fmt, f"{name}_a")
    length = bit_length(m, x.sig, f"{name}_len")
    lead = Signal(range(p + 1), name=f"{name}_lead")
    m.d.comb += lead.eq(Mux(length > 0, length - 1, 0))
    shift = Signal(range(p + 1), name=f"{name}_shift")
    norm = Signal(p + 1, name=f"{name}_norm")
    m.d.comb += [shift.eq(p - lead), norm.eq(x.sig << shift)]
    exp = Signal(signed(len(x.exp) + 2), name=f"{name}_exp")
    m.d.comb += exp.eq(x.exp + lead)                  # a = (norm / 2**p) * 2**exp
    s1 = {k: pipe.register(f"{name}_s1_{k}", v) for k, v in
          {"norm": norm, "exp": exp, "sign": x.sign, "zero": x.is_zero, "inf": x.is_inf,
           "nan": x.is_nan}.items()}
    low = p - prm.table_bits
    f = s1["norm"][:p]
    addr, base, delta = interpolation_rom(m, reciprocal_table(fmt), f"{name}_table")
    m.d.comb += addr.eq(f[low:])
    y = Signal(prm.table_frac + 1, name=f"{name}_y")
    m.d.comb += y.eq(base - ((delta * f[:low]) >> low))
    s2 = {k: pipe.register(f"{name}_s2_{k}", v) for k, v in
          {"y": y, "exp": -prm.table_frac - s1["exp"], "sign": s1["sign"], "zero": s1["zero"],
           "inf": s1["inf"], "nan": s1["nan"]}.items()}
    rounded = round_pack(m, s2["sign"], s2["y"], s2["exp"], fmt, f"{name}_round")
    result = Mux(s2["nan"], Const(fmt.qnan, fmt.width),
                 Mux(s2["zero"], pack_special(s2["sign"], fmt, inf=True),
                     Mux(s2["inf"], pack_special(s2["sign"], fmt, inf=False), rounded)))
    return pipe.register(f"{name}_s3_result", result)


class FReciprocal(UnaryUnit):
    """Reciprocal: ``o = 1/a`` exactly as ``golden.elementary.reciprocal`` (< 0.72 ulp).

    Latency 3, one result per cycle.
    """

    latency = FRECIPROCAL_LATENCY
    function = staticmethod(freciprocal_datapath)
    prefix = "recip"
