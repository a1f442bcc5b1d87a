"""A batched harness for simulating the floating-point units under Verilator.

``lanes`` copies of every unit of one format share two wide operand buses, so
one simulated cycle (one round trip through Python) carries ``lanes`` operations
for each unit. Outputs are ``<unit>_out`` (lanes × result width) with
``<unit>_valid``; ``o.ready`` is tied high.
"""

from __future__ import annotations

from amaranth import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.formats import FloatFormat
from hw.units import UNIT_SPECS

__all__ = ["OPERAND_BITS", "harness_units", "FPHarness"]

OPERAND_BITS = 32


def harness_units(fmt: FloatFormat) -> list[str]:
    return [name for name, spec in UNIT_SPECS.items() if fmt in spec.formats]


class FPHarness(wiring.Component):
    """Every unit of ``fmt``, ``lanes`` times, on shared operand buses."""

    def __init__(self, fmt: FloatFormat, lanes: int):
        self._fmt, self._lanes = fmt, lanes
        ports = {"a": In(OPERAND_BITS * lanes), "b": In(OPERAND_BITS * lanes), "valid": In(1)}
        for name in harness_units(fmt):
            ports[f"{name}_out"] = Out(UNIT_SPECS[name].out_fmt(fmt).width * lanes)
            ports[f"{name}_valid"] = Out(1)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        for name in harness_units(self._fmt):
            spec = UNIT_SPECS[name]
            in_w, out_w = spec.in_fmt(self._fmt).width, spec.out_fmt(self._fmt).width
            for lane in range(self._lanes):
                unit = spec.build(self._fmt)
                m.submodules[f"{name}_{lane}"] = unit
                a = self.a[lane * OPERAND_BITS:][:in_w]
                b = self.b[lane * OPERAND_BITS:][:in_w]
                m.d.comb += [
                    unit.i.valid.eq(self.valid),
                    unit.i.payload.eq(Cat(a, b) if spec.arity == 2 else a),   # struct fields pack from bit 0
                    unit.o.ready.eq(1),
                    getattr(self, f"{name}_out")[lane * out_w:][:out_w].eq(unit.o.payload),
                ]
                if lane == 0:
                    m.d.comb += getattr(self, f"{name}_valid").eq(unit.o.valid)
        return m
