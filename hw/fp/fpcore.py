"""Combinational floating-point building blocks, the RTL twins of ``golden.fpops``.

Each function adds comb logic to a module and returns values. Names follow
the golden model: a finite value is ``(-1)**sign * sig * 2**exp``.
"""

from __future__ import annotations

import dataclasses

from amaranth import Cat, Const, Module, Mux, Signal, Value, signed, unsigned

from golden.formats import FloatFormat

__all__ = ["Unpacked", "unpack", "bit_length", "round_pack", "shift_right_sticky", "exp_shape", "pack_special"]


def exp_shape(*fmts: FloatFormat, extra: int = 0):
    """A signed shape wide enough for exponents of products/sums of these formats (plus ``extra`` bits)."""
    span = max(f.bias + f.man_bits + f.exp_max for f in fmts)
    return signed((2 * span).bit_length() + 3 + extra)


@dataclasses.dataclass
class Unpacked:
    sign: Value
    sig: Value        # significand with the hidden bit: precision bits
    exp: Value        # signed exponent of the significand's LSB
    is_zero: Value
    is_inf: Value
    is_nan: Value


def unpack(m: Module, bits: Value, fmt: FloatFormat, name: str) -> Unpacked:
    """Split ``bits`` into sign, significand and exponent (golden ``decode``)."""
    bits = Value.cast(bits)[:fmt.width]
    frac = bits[:fmt.man_bits]
    efield = bits[fmt.man_bits:fmt.width - 1]
    normal = efield != 0
    special = efield == fmt.exp_max
    sig = Signal(fmt.precision, name=f"{name}_sig")
    exp = Signal(exp_shape(fmt), name=f"{name}_exp")
    m.d.comb += [
        sig.eq(Cat(frac, normal)),
        exp.eq(Mux(normal, efield, 1) - (fmt.bias + fmt.man_bits)),
    ]
    return Unpacked(bits[-1], sig, exp, ~normal & (frac == 0), special & (frac == 0), special & (frac != 0))


def bit_length(m: Module, value: Value, name: str) -> Signal:
    """Position of the leading one plus one (0 for 0): a priority encoder."""
    value = Value.cast(value)
    length = Signal(range(len(value) + 1), name=name)
    for i in range(len(value)):
        with m.If(value[i]):
            m.d.comb += length.eq(i + 1)
    return length


def shift_right_sticky(m: Module, value: Value, amount: Value, name: str):
    """``value >> amount`` (any amount) and whether a 1 bit was shifted out."""
    value = Value.cast(value)
    n = len(value)
    amt = Signal(range(n + 1), name=f"{name}_amt")
    m.d.comb += amt.eq(Mux(amount > n, n, amount))
    kept = Signal(n, name=f"{name}_kept")
    lost = Signal(name=f"{name}_lost")
    m.d.comb += [kept.eq(value >> amt), lost.eq((kept << amt)[:n] != value)]
    return kept, lost


def pack_special(sign: Value, fmt: FloatFormat, inf: bool) -> Value:
    """±inf (``inf=True``) or ±0 as bit patterns."""
    return Cat(Const(fmt.inf if inf else 0, fmt.width - 1), sign)


def round_pack(m: Module, sign: Value, sig: Value, exp: Value, fmt: FloatFormat, name: str,
               sticky: Value = Const(0)) -> Signal:
    """Round ``(-1)**sign * (sig + f) * 2**exp`` to ``fmt``, ties to even (golden ``round_pack``).

    ``sticky`` marks a non-zero fraction f below ``sig``'s LSB.
    """
    sig = Value.cast(sig)
    n, p = len(sig), fmt.precision
    ew = max(len(Value.cast(exp)), (n + p + fmt.bias).bit_length() + 2) + 2
    length = bit_length(m, sig, f"{name}_len")
    eb = Signal(signed(ew), name=f"{name}_ebiased")
    shift = Signal(signed(ew + 1), name=f"{name}_shift")
    m.d.comb += [
        eb.eq(exp + length - 1 + fmt.bias),
        shift.eq(length - p + Mux(eb < 1, 1 - eb, 0)),
    ]
    right = Signal(range(n + 2), name=f"{name}_right")
    left = Signal(range(p + 1), name=f"{name}_left")
    m.d.comb += [
        right.eq(Mux(shift > n + 1, n + 1, Mux(shift > 0, shift, 0))),
        left.eq(Mux(shift < -p, p, Mux(shift < 0, -shift, 0))),
    ]
    # g keeps the result bits plus the round bit at its LSB (when right > 0).
    rm1 = Signal(range(n + 1), name=f"{name}_rm1")
    g = Signal(n, name=f"{name}_g")
    rest = Signal(name=f"{name}_rest")
    m.d.comb += [
        rm1.eq(Mux(right > 0, right - 1, 0)),
        g.eq(sig >> rm1),
        rest.eq(((g << rm1)[:n] != sig) | sticky),
    ]
    kept = Signal(p, name=f"{name}_kept")
    m.d.comb += kept.eq(Mux(right > 0, g >> 1, (sig << left)[:p]))
    round_up = (right > 0) & g[0] & (rest | kept[0])
    rounded = Signal(p + 1, name=f"{name}_rounded")
    m.d.comb += rounded.eq(kept + round_up)
    # Normal: field = (eb - 1) << man_bits + significand (hidden bit included), so a
    # rounding carry walks into the exponent. Subnormal: field = significand.
    efield = Signal(unsigned(ew), name=f"{name}_efield")
    m.d.comb += efield.eq(Mux(eb > 1, eb - 1, 0))
    field = Signal(ew + fmt.man_bits + 1, name=f"{name}_field")
    m.d.comb += field.eq((efield << fmt.man_bits) + rounded)
    magnitude = Mux(sig == 0, 0, Mux(field >= fmt.inf, fmt.inf, field))
    result = Signal(fmt.width, name=name)
    m.d.comb += result.eq(Cat(magnitude[:fmt.width - 1], sign))
    return result
