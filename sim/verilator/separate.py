"""Emit each distinct unit of a design once and instantiate it where it repeats.

A device has one PU per bank and one RU per bank group, all alike; a system
repeats them per device. Amaranth elaborates and emits every copy, which for
the system top costs more than the Verilator build itself. ``Separator`` is
the ``separate`` hook of ``hw.device.Device`` and ``hw.system.System``: it
builds one unit per module, named by the unit's configuration, so that
``sim.verilator.build`` emits it once (``Separator.modules``), and puts a
:class:`Separate` stand-in with the same signature, which elaborates to an
``Instance`` of that module, in the place of every copy. The copies are never
built. The logic is unchanged: the same units, the same ports, wired by name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

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
    """The ``separate`` hook: ``separator(make, key)`` returns a :class:`Separate`; ``modules`` maps each
    module name to the one unit that will be emitted for it, made by the first ``make`` of its ``key``
    (one key, one configuration: the copies would be the same unit, so they are not made)."""

    def __init__(self):
        self.modules: dict[str, wiring.Component] = {}

    def __call__(self, make: Callable[[], wiring.Component], key: tuple) -> Separate:
        name = f"{str(key[0]).lower()}_{hashlib.sha256(repr(key).encode()).hexdigest()[:10]}"
        if name not in self.modules:
            self.modules[name] = make()
        return Separate(self.modules[name], name)


def silence_unused(obj, seen=None) -> None:
    """Mark ``obj`` and the elaboratables it holds as deliberately never elaborated here (Amaranth warns
    about those): a design whose Verilog came from a cache or was emitted in a worker process, and which
    only serves its layouts. Amaranth has no public way to say so for one object (its linter option is per
    source file; a ``warnings`` filter does not outlive the ``catch_warnings`` of a test, while the object
    warns when it is collected), so this is the one place that sets its private flag."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, Elaboratable):
        obj._MustUse__silence = True    # no public API: https://github.com/amaranth-lang/amaranth/issues/436
        for value in vars(obj).values():
            silence_unused(value, seen)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            silence_unused(value, seen)
