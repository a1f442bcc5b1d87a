"""A bank plus an HDL read sequencer, for long runs with Python off the per-cycle path.

``BankStreamer`` takes commands on one stream (``cmd``): ``WRITE`` loads a
column through the bank's host write path, ``START`` reads ``count`` consecutive
columns from column address ``first`` (row-major: ``row = a // C``,
``col = a % C``, wrapping at the bank's capacity), folds every returned beat into ``checksum`` (XOR) and raises
``done``. ``cycles`` counts from ``START`` to the last beat. The job harness
(``sim/testbench/harness.py``) plays the commands, so no Python runs per cycle.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.bank import Bank
from hw.bankpu import share_bank_port
from hw.tierconfig import TierConfig
from sim.testbench.harness import HarnessPorts
from sim.testbench.pu_bank import PUBankOp

__all__ = ["BankStreamer", "BANK_PORTS"]

COUNTERS = ("cycles", "beats", "checksum", "reads", "activates", "refreshes", "read_bus_cycles")
BANK_PORTS = HarnessPorts(cmd="cmd", out=None, counters=COUNTERS, done="done")


class BankStreamer(wiring.Component):
    def __init__(self, tier: TierConfig):
        self._tier = tier
        geo = tier.geometry
        self._addr_bits = max(1, (geo.rows * geo.columns_per_row - 1).bit_length())
        self.command = data.StructLayout({"op": 2, "body": self._addr_bits + max(geo.column_bits, 32)})
        super().__init__({
            "cmd": In(stream.Signature(self.command)),
            "done": Out(1), "cycles": Out(32), "beats": Out(32), "checksum": Out(geo.column_bits),
            "reads": Out(32), "activates": Out(32), "refreshes": Out(32), "read_bus_cycles": Out(32),
        })

    def write(self, addr: int, column_word: int) -> int:
        """The command word that writes ``column_word`` at column address ``addr``."""
        return int(PUBankOp.WRITE) | (addr | column_word << self._addr_bits) << 2

    def start(self, first: int, count: int) -> int:
        """The command word that reads ``count`` columns from ``first``."""
        return int(PUBankOp.START) | (first | count << self._addr_bits) << 2

    def elaborate(self, platform):
        m = Module()
        cols = self._tier.geometry.columns_per_row
        m.submodules.bank = bank = Bank(self._tier)
        running = Signal()
        issued = Signal(32)
        addr = Signal(self._addr_bits)
        op, body = self.cmd.payload.op, self.cmd.payload.body
        start = self.cmd.valid & (op == PUBankOp.START)
        count = Signal(32)
        with m.If(start):
            m.d.sync += [running.eq(1), issued.eq(0), addr.eq(body[:self._addr_bits]), self.beats.eq(0),
                         count.eq(body[self._addr_bits:self._addr_bits + 32]),
                         self.checksum.eq(0), self.cycles.eq(0), self.done.eq(0)]
        reading = running & (issued < count)
        wr_ready = Signal()
        share_bank_port(m, bank, running, reading, addr, self.cmd.valid & (op == PUBankOp.WRITE),
                        body[:self._addr_bits], body[self._addr_bits:], wr_ready)
        m.d.comb += self.cmd.ready.eq(Mux(op == PUBankOp.WRITE, wr_ready, 1))
        m.d.comb += bank.rdata.ready.eq(1)
        capacity = self._tier.geometry.rows * cols
        with m.If(reading & bank.req.ready):
            m.d.sync += [issued.eq(issued + 1), addr.eq(Mux(addr == capacity - 1, 0, addr + 1))]
        with m.If(running & ~start):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(bank.rdata.valid):
                m.d.sync += [self.beats.eq(self.beats + 1), self.checksum.eq(self.checksum ^ bank.rdata.payload)]
                with m.If(self.beats + 1 == count):
                    m.d.sync += [running.eq(0), self.done.eq(1)]
        m.d.comb += [self.reads.eq(bank.reads), self.activates.eq(bank.activates),
                     self.refreshes.eq(bank.refreshes), self.read_bus_cycles.eq(bank.read_bus_cycles)]
        return m
