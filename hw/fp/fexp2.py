"""exp2 unit (golden ``elementary.exp2``): fixed point, table plus linear interpolation."""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, signed
from amaranth.lib.memory import Memory

from golden.elementary import elementary_params, exp2_table
from golden.formats import FloatFormat

from .fpcore import bit_length, round_pack, unpack
from .pipeline import UnaryUnit, Pipeline

__all__ = ["FEXP2_LATENCY", "fexp2_datapath", "interpolation_rom", "FExp2"]

FEXP2_LATENCY = 3


def interpolation_rom(m: Module, table, name: str):
    """A ROM holding (T[i], T[i+1] - T[i]) for i < len(table) - 1; returns (index, base, delta)."""
    base_bits = max(table).bit_length()
    deltas = [abs(b - a) for a, b in zip(table, table[1:])]
    delta_bits = max(deltas).bit_length()
    words = [a | (abs(b - a) << base_bits) for a, b in zip(table, table[1:])]
    rom = Memory(shape=base_bits + delta_bits, depth=len(words), init=words)
    m.submodules[name] = rom
    port = rom.read_port(domain="comb")
    return port.addr, port.data[:base_bits], port.data[base_bits:]


def fexp2_datapath(m: Module, pipe: Pipeline, a, fmt: FloatFormat, name: str):
    """2**a. Stage 1: fixed point X = floor(a·2**F), saturated. Stage 2: table and
    interpolation. Stage 3: round."""
    prm = elementary_params(fmt)
    frac = prm.exp2_frac
    x = unpack(m, a, fmt, f"{name}_a")
    lo, hi = prm.exp2_min << frac, prm.exp2_max << frac
    fixed_shape = signed(max(lo.bit_length(), hi.bit_length()) + 2)
    # |x| >= 2**exp_bits lies beyond both saturation limits.
    length = bit_length(m, x.sig, f"{name}_len")
    huge = (x.exp + length - 1) >= fmt.exp_bits
    shift = Signal(signed(len(x.exp) + 1), name=f"{name}_shift")
    m.d.comb += shift.eq(x.exp + frac)
    left = Signal(range(fmt.exp_bits + frac + 1), name=f"{name}_left")
    right = Signal(range(fmt.precision + 1), name=f"{name}_right")
    m.d.comb += [
        left.eq(Mux(shift > fmt.exp_bits + frac, fmt.exp_bits + frac, Mux(shift > 0, shift, 0))),
        right.eq(Mux(-shift > fmt.precision, fmt.precision, Mux(shift < 0, -shift, 0))),
    ]
    magnitude = Signal(fmt.exp_bits + frac + 1, name=f"{name}_magnitude")
    m.d.comb += magnitude.eq((x.sig << left) >> right)
    truncated = ((magnitude << right)[:len(x.sig) + len(magnitude)] != (x.sig << left))
    fixed = Signal(fixed_shape, name=f"{name}_fixed")
    m.d.comb += fixed.eq(Mux(x.sign, -magnitude - truncated, magnitude))
    clamped = Mux(huge, Mux(x.sign, lo, hi), Mux(fixed < lo, lo, Mux(fixed > hi, hi, fixed)))
    s1 = {k: pipe.register(f"{name}_s1_{k}", v) for k, v in
          {"fixed": clamped, "neg_inf": x.is_inf & x.sign, "pos_inf": x.is_inf & ~x.sign,
           "nan": x.is_nan}.items()}
    low = frac - prm.table_bits
    f = s1["fixed"].as_unsigned()[:frac]
    addr, base, delta = interpolation_rom(m, exp2_table(fmt), f"{name}_table")
    m.d.comb += addr.eq(f[low:])
    y = Signal(prm.table_frac + 2, name=f"{name}_y")
    m.d.comb += y.eq(base + ((delta * f[:low]) >> low))
    s2 = {k: pipe.register(f"{name}_s2_{k}", v) for k, v in
          {"y": y, "n": s1["fixed"] >> frac, "neg_inf": s1["neg_inf"], "pos_inf": s1["pos_inf"],
           "nan": s1["nan"]}.items()}
    rounded = round_pack(m, Const(0), s2["y"], s2["n"] - prm.table_frac, fmt, f"{name}_round")
    result = Mux(s2["nan"], Const(fmt.qnan, fmt.width),
                 Mux(s2["pos_inf"], Const(fmt.inf, fmt.width), Mux(s2["neg_inf"], Const(0, fmt.width), rounded)))
    return pipe.register(f"{name}_s3_result", result)


class FExp2(UnaryUnit):
    """exp2: ``o = 2**a`` exactly as ``golden.elementary.exp2`` (< 0.59 ulp, see docs/numerics.md).

    Latency 3, one result per cycle.
    """

    latency = FEXP2_LATENCY
    function = staticmethod(fexp2_datapath)
    prefix = "exp2"
