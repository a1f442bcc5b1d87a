"""Emit each distinct unit of a design once and instantiate it where it repeats.

A device has one PU per bank and one RU per bank group, all alike; a system
repeats them per device. Amaranth elaborates and emits every copy, which for
the system top costs more than the Verilator build itself. ``Separator`` is
the ``separate`` hook of ``hw.device.Device`` and ``hw.system.System``: it
swaps each unit for a :class:`Separate` stand-in with the same signature,
which elaborates to an ``Instance`` of a module named by the unit's
configuration, and keeps one unit per module so that ``sim.verilator.build`` emits it
once (``Separator.modules``). The logic is unchanged: the same units, the
same ports, wired by name.
"""

from __future__ import annotations

import hashlib

from amaranth import ClockSignal, Elaboratable, Instance, ResetSignal, Value
from amaranth.lib import wiring

__all__ = ["Separate", "Separator", "silence_unused"]


class Separate(wiring.Component):
    """A stand-in for ``unit``: an instance of the separately emitted module ``module``, same ports."""

    def __init__(self, unit: wiring.Component, module: str):
        self._module = module
        super().__init__(unit.signature)

    @property
    def module(self) -> str:
        return self._module

    def elaborate(self, platform):
        ports = {}
        for path, member, value in self.signature.flatten(self):
            if len(Value.cast(value)):
                ports[("i_" if member.flow == wiring.In else "o_") + "__".join(map(str, path))] = Value.cast(value)
        return Instance(self._module, i_clk=ClockSignal(), i_rst=ResetSignal(), **ports)


class Separator:
    """The ``separate`` hook: ``separator(unit, key)`` returns a :class:`Separate`; ``modules`` maps each
    module name to the one unit that will be emitted for it."""

    def __init__(self):
        self.modules: dict[str, wiring.Component] = {}

    def __call__(self, unit: wiring.Component, key: tuple) -> Separate:
        name = f"{str(key[0]).lower()}_{hashlib.sha256(repr(key).encode()).hexdigest()[:10]}"
        if name in self.modules:
            silence_unused(unit)                    # a copy: its module is emitted from the first one
        else:
            self.modules[name] = unit
        return Separate(unit, name)


def silence_unused(obj, seen=None) -> None:
    """Mark ``obj`` and the elaboratables it holds as deliberately never elaborated (Amaranth warns about
    those): a unit whose module is emitted from another copy, or a design whose Verilog came from a cache
    and which only serves its layouts."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, Elaboratable):
        obj._MustUse__silence = True
        for value in vars(obj).values():
            silence_unused(value, seen)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            silence_unused(value, seen)
