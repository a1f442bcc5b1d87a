"""Floating-point adder (golden ``fadd``): align with sticky, add or subtract, round once."""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal

from golden.formats import FloatFormat

from .fpcore import pack_special, round_pack, shift_right_sticky, unpack
from .pipeline import BinaryUnit, Pipeline

__all__ = ["FADD_LATENCY", "fadd_datapath", "FAdd"]

FADD_LATENCY = 3


def fadd_datapath(m: Module, pipe: Pipeline, a, b, fmt: FloatFormat, name: str, out: FloatFormat | None = None):
    """a + b. Stage 1: order by magnitude. Stage 2: align and add. Stage 3: round."""
    out = fmt if out is None else out
    x = unpack(m, a, fmt, f"{name}_a")
    y = unpack(m, b, fmt, f"{name}_b")
    # |a| >= |b|? Zeros count as the smallest magnitude.
    a_big = Signal(name=f"{name}_a_big")
    m.d.comb += a_big.eq(Mux(x.is_zero, y.is_zero,
                             Mux(y.is_zero, 1, (x.exp > y.exp) | ((x.exp == y.exp) & (x.sig >= y.sig)))))
    s1 = {
        "sx": Mux(a_big, x.sign, y.sign), "sy": Mux(a_big, y.sign, x.sign),
        "mx": Mux(a_big, x.sig, y.sig), "my": Mux(a_big, y.sig, x.sig),
        "ex": Mux(a_big, x.exp, y.exp),
        "dist": Mux(x.is_zero | y.is_zero, 0, Mux(a_big, x.exp - y.exp, y.exp - x.exp)),
        "nan": x.is_nan | y.is_nan | (x.is_inf & y.is_inf & (x.sign != y.sign)),
        "inf": x.is_inf | y.is_inf,
        "inf_sign": Mux(x.is_inf, x.sign, y.sign),
    }
    s1 = {k: pipe.register(f"{name}_s1_{k}", v) for k, v in s1.items()}
    # Guard bits: enough that a sticky borrow never reaches the kept bits.
    guard = fmt.precision + 3
    width = fmt.precision + guard + 1
    mx = Signal(width, name=f"{name}_mx")
    m.d.comb += mx.eq(s1["mx"] << guard)
    my, sticky = shift_right_sticky(m, s1["my"] << guard, s1["dist"].as_unsigned(), f"{name}_align")
    subtract = s1["sx"] != s1["sy"]
    total = Signal(width, name=f"{name}_total")
    m.d.comb += total.eq(Mux(subtract, mx - my - sticky, mx + my))
    s2 = {"total": total, "sticky": sticky, "sign": s1["sx"], "both_neg": s1["sx"] & s1["sy"],
          "exp": s1["ex"] - guard, "nan": s1["nan"], "inf": s1["inf"], "inf_sign": s1["inf_sign"]}
    s2 = {k: pipe.register(f"{name}_s2_{k}", v) for k, v in s2.items()}
    zero_sum = (s2["total"] == 0) & ~s2["sticky"]
    rounded = round_pack(m, s2["sign"], s2["total"], s2["exp"], out, f"{name}_round", sticky=s2["sticky"])
    result = Mux(s2["nan"], Const(out.qnan, out.width),
                 Mux(s2["inf"], pack_special(s2["inf_sign"], out, inf=True),
                     Mux(zero_sum, pack_special(s2["both_neg"], out, inf=False), rounded)))
    return pipe.register(f"{name}_s3_result", result)


class FAdd(BinaryUnit):
    """Add: ``o = round(a + b)``, IEEE round to nearest even; an exact zero sum is +0
    unless both operands are -0; canonical NaN.

    Latency 3, one result per cycle.
    """

    latency = FADD_LATENCY
    function = staticmethod(fadd_datapath)
    prefix = "add"
