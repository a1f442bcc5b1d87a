"""A bank plus an HDL read sequencer, for long runs with Python off the per-cycle path.

``BankStreamer`` loads through the bank's host write path (one column per
cycle, driven from Python), then on ``start`` reads ``count`` consecutive
columns from column address ``first`` (row-major: ``row = a // C``,
``col = a % C``, wrapping at the bank's capacity), folds every returned beat into ``checksum`` (XOR) and raises
``done``. ``cycles`` counts from ``start`` to the last beat.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.bank import Bank
from hw.bankpu import share_bank_port
from hw.tierconfig import TierConfig

__all__ = ["BankStreamer"]


class BankStreamer(wiring.Component):
    def __init__(self, tier: TierConfig):
        self._tier = tier
        geo = tier.geometry
        self._addr_bits = max(1, (geo.rows * geo.columns_per_row - 1).bit_length())
        super().__init__({
            "wr_valid": In(1), "wr_addr": In(self._addr_bits), "wr_data": In(geo.column_bits), "wr_ready": Out(1),
            "start": In(1), "first": In(self._addr_bits), "count": In(32),
            "done": Out(1), "cycles": Out(32), "beats": Out(32), "checksum": Out(geo.column_bits),
            "reads": Out(32), "activates": Out(32), "refreshes": Out(32), "read_bus_cycles": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        cols = self._tier.geometry.columns_per_row
        m.submodules.bank = bank = Bank(self._tier)
        running = Signal()
        issued = Signal(32)
        addr = Signal(self._addr_bits)
        with m.If(self.start):
            m.d.sync += [running.eq(1), issued.eq(0), addr.eq(self.first), self.beats.eq(0),
                         self.checksum.eq(0), self.cycles.eq(0), self.done.eq(0)]
        reading = running & (issued < self.count)
        share_bank_port(m, bank, running, reading, addr, self.wr_valid, self.wr_addr, self.wr_data, self.wr_ready)
        m.d.comb += bank.rdata.ready.eq(1)
        capacity = self._tier.geometry.rows * cols
        with m.If(reading & bank.req.ready):
            m.d.sync += [issued.eq(issued + 1), addr.eq(Mux(addr == capacity - 1, 0, addr + 1))]
        with m.If(running & ~self.start):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(bank.rdata.valid):
                m.d.sync += [self.beats.eq(self.beats + 1), self.checksum.eq(self.checksum ^ bank.rdata.payload)]
                with m.If(self.beats + 1 == self.count):
                    m.d.sync += [running.eq(0), self.done.eq(1)]
        m.d.comb += [self.reads.eq(bank.reads), self.activates.eq(bank.activates),
                     self.refreshes.eq(bank.refreshes), self.read_bus_cycles.eq(bank.read_bus_cycles)]
        return m
