"""A bank feeding its PU (``hw.bankpu.BankPU``) with counters, for cycle measurements under Verilator.

``start`` sends one run from column address 0; ``cycles`` counts from
``start`` to the last partial out, ``stream_cycles`` to the last column the
PU takes in, and the bank's counters give the read-bus utilisation. The
clock is made in HDL (``sim/hdlclock.py``).
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.formats import FloatFormat
from hw.bankpu import BankPU, address_bits
from hw.partial import partial_layout
from hw.tierconfig import TierConfig

__all__ = ["PUBank"]


class PUBank(wiring.Component):
    def __init__(self, tier: TierConfig, fmt: FloatFormat, acc: FloatFormat, head_dim: int, max_group: int,
                 block_tokens: int, sharers: int = 1):
        self._unit = BankPU(tier, fmt, acc, head_dim, max_group, block_tokens, sharers)
        self._chunks = head_dim // tier.lanes
        vec = data.ArrayLayout(fmt.width, tier.lanes)
        super().__init__({
            "wr_valid": In(1), "wr_addr": In(address_bits(tier)), "wr_data": In(tier.geometry.column_bits),
            "wr_ready": Out(1),
            "start": In(1), "tokens": In(32), "group": In(range(max_group + 1)),
            "q": In(stream.Signature(vec)), "part": Out(stream.Signature(partial_layout(acc, head_dim))),
            "done": Out(1), "cycles": Out(32), "stream_cycles": Out(32), "partials": Out(8),
            "reads": Out(32), "activates": Out(32), "refreshes": Out(32), "read_bus_cycles": Out(32),
            "pu_busy_cycles": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self._unit
        running = Signal()
        m.d.comb += [unit.wr.valid.eq(self.wr_valid), unit.wr.payload.addr.eq(self.wr_addr),
                     unit.wr.payload.data.eq(self.wr_data), self.wr_ready.eq(unit.wr.ready),
                     unit.run.valid.eq(self.start), unit.run.payload.base.eq(0),
                     unit.run.payload.tokens.eq(self.tokens), unit.run.payload.group.eq(self.group)]
        wiring.connect(m, wiring.flipped(self.q), unit.q)
        wiring.connect(m, unit.part, wiring.flipped(self.part))
        with m.If(self.start):
            m.d.sync += [running.eq(1), self.cycles.eq(0), self.stream_cycles.eq(0), self.partials.eq(0),
                         self.done.eq(0)]
        with m.If(running & ~self.start):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(unit.columns_taken < 2 * self._chunks * self.tokens):
                m.d.sync += self.stream_cycles.eq(self.stream_cycles + 1)
            with m.If(self.part.valid & self.part.ready):
                m.d.sync += self.partials.eq(self.partials + 1)
                with m.If(self.partials + 1 == self.group):
                    m.d.sync += [running.eq(0), self.done.eq(1)]
        m.d.comb += [self.reads.eq(unit.reads), self.activates.eq(unit.activates),
                     self.refreshes.eq(unit.refreshes), self.read_bus_cycles.eq(unit.read_bus_cycles),
                     self.pu_busy_cycles.eq(unit.pu_busy_cycles)]
        return m
