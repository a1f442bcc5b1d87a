"""The PU on its own clock next to its bank.

The paper clocks its PUs below the memory: 666 MHz next to a 1,300 MHz HBM3
bank, 500 MHz next to a 1,600 MHz DDR4 bank (the SSD controller's PUs share
its 1 GHz clock). :class:`ClockedPU` runs a :class:`hw.pu.PU` at
``pu_mhz`` inside the bank's ``memory_mhz`` domain with a **clock enable**:
a phase accumulator adds ``pu_mhz`` every memory cycle and enables the PU on
the cycles where it passes ``memory_mhz`` (num/den in lowest terms), so over
any window of ``den`` memory cycles the PU gets exactly ``num`` cycles, spread
as evenly as whole cycles allow.

Why a clock enable and not a second clock domain: the model is about
throughput and cycle counts, which an enable reproduces exactly (the PU does
``num`` cycles of work per ``den`` memory cycles), while one clock keeps the
design in one Verilator domain with no crossing to simulate or verify, and the
bank keeps its cycle-exact timing untouched. A silicon PU at its own clock
would put an asynchronous FIFO where the stream handshakes cross below.

The crossings are the PU's streams. Inputs (``cmd``, ``q``, ``kv``): the PU
sees ``valid`` and the producer sees ``ready`` only on enabled cycles, so a
transfer happens on an enabled cycle or not at all. The output ``part`` goes
through a one-entry register that the PU fills on an enabled cycle and the
consumer empties on any memory cycle, so ``valid`` and the payload hold until
the transfer (the stream rules) and a partial leaves one memory cycle later.
``busy`` is the PU's own (a partial waiting in that register is not PU work).

Latency and throughput: a run of ``PU.cycles(n, G)`` PU cycles with its
inputs always valid takes ``ceil(PU.cycles · den / num)`` memory cycles, give
or take one for the accumulator's phase, plus one for the output register.
``busy_cycles`` counts PU cycles.
"""

from __future__ import annotations

from fractions import Fraction

from amaranth import EnableInserter, Module, Signal
from amaranth.lib import wiring

from .pu import PU

__all__ = ["ClockedPU", "clock_ratio"]


def clock_ratio(pu_mhz: float, memory_mhz: float) -> Fraction:
    """PU cycles per memory cycle, num/den in lowest terms (at most 1)."""
    if not 0 < pu_mhz <= memory_mhz:
        raise ValueError(f"pu_mhz must be in (0, memory_mhz = {memory_mhz}], not {pu_mhz}")
    return Fraction(pu_mhz / memory_mhz).limit_denominator(100_000)


class ClockedPU(wiring.Component):
    """A :class:`hw.pu.PU` enabled on ``pu_mhz``/``memory_mhz`` of the memory clock's cycles; same ports.

    Parameters
    ----------
    pu : PU
        The processing unit to clock.
    pu_mhz, memory_mhz : float
        Its clock and the clock of the domain it sits in (``pu_mhz`` ≤ ``memory_mhz``).
    """

    def __init__(self, pu: PU, pu_mhz: float, memory_mhz: float):
        self._pu = pu
        self._ratio = clock_ratio(pu_mhz, memory_mhz)
        super().__init__(pu.signature)

    @property
    def pu(self) -> PU:
        return self._pu

    @property
    def ratio(self) -> Fraction:
        return self._ratio

    def elaborate(self, platform):
        m = Module()
        num, den = self._ratio.numerator, self._ratio.denominator
        phase = Signal(range(den), name="pu_phase")
        enable = Signal(name="pu_enable")
        m.d.comb += enable.eq(phase + num >= den)
        with m.If(enable):
            m.d.sync += phase.eq(phase + num - den)
        with m.Else():
            m.d.sync += phase.eq(phase + num)
        m.submodules.core = core = EnableInserter(enable)(self._pu)

        for name in ("cmd", "q", "kv"):
            outer, inner = getattr(self, name), getattr(core, name)
            m.d.comb += [inner.valid.eq(outer.valid & enable), inner.payload.eq(outer.payload),
                         outer.ready.eq(inner.ready & enable)]

        held = Signal(name="part_held")
        slot = Signal(self.part.payload.shape(), name="part_slot")
        room = ~held | self.part.ready
        m.d.comb += [core.part.ready.eq(enable & room), self.part.valid.eq(held), self.part.payload.eq(slot)]
        with m.If(self.part.valid & self.part.ready):
            m.d.sync += held.eq(0)
        with m.If(core.part.valid & core.part.ready):
            m.d.sync += [held.eq(1), slot.eq(core.part.payload)]
        m.d.comb += [self.busy.eq(core.busy), self.busy_cycles.eq(core.busy_cycles)]
        return m
