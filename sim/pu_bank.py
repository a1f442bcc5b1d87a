"""A bank feeding its PU, for cycle measurements under Verilator (the clock in HDL).

The host stores one (request, kv head)'s KV in the bank in exactly the order
the PU consumes it (``sim.pu_stream.kv_columns``: per block, K chunk-major,
then V token-major), from column address 0. A read sequencer then streams
2·C·n columns from the bank into the PU. ``cycles`` counts from ``start`` to
the last partial out, ``stream_cycles`` to the last column the PU takes in,
and the bank's counters give the read-bus utilisation.
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.formats import FloatFormat
from hw.bank import Bank
from hw.pu import PU
from hw.tierconfig import TierConfig
from sim.bank_stream import share_bank_port

__all__ = ["PUBank"]


class PUBank(wiring.Component):
    def __init__(self, tier: TierConfig, fmt: FloatFormat, acc: FloatFormat, head_dim: int, max_group: int,
                 block_tokens: int):
        self._tier = tier
        self._pu_args = (fmt, acc, tier.lanes, head_dim, max_group, block_tokens)
        geo = tier.geometry
        self._addr_bits = max(1, (geo.rows * geo.columns_per_row - 1).bit_length())
        vec = data.ArrayLayout(fmt.width, tier.lanes)
        partial = data.StructLayout({"m": acc.width, "l": acc.width, "o": data.ArrayLayout(acc.width, head_dim)})
        super().__init__({
            "wr_valid": In(1), "wr_addr": In(self._addr_bits), "wr_data": In(geo.column_bits), "wr_ready": Out(1),
            "start": In(1), "tokens": In(32), "group": In(range(max_group + 1)),
            "q": In(stream.Signature(vec)), "part": Out(stream.Signature(partial)),
            "done": Out(1), "cycles": Out(32), "stream_cycles": Out(32), "partials": Out(8),
            "reads": Out(32), "activates": Out(32), "refreshes": Out(32), "read_bus_cycles": Out(32),
            "pu_busy_cycles": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        chunks = self._pu_args[3] // self._tier.lanes
        m.submodules.bank = bank = Bank(self._tier)
        m.submodules.pu = pu = PU(*self._pu_args)
        running, cmd_sent = Signal(), Signal()
        issued, taken, total = Signal(32), Signal(32), Signal(32)
        addr = Signal(self._addr_bits)
        with m.If(self.start):
            m.d.sync += [running.eq(1), cmd_sent.eq(0), issued.eq(0), taken.eq(0), addr.eq(0),
                         total.eq(2 * chunks * self.tokens), self.cycles.eq(0), self.stream_cycles.eq(0),
                         self.partials.eq(0), self.done.eq(0)]
        reading = running & (issued < total)
        share_bank_port(m, bank, running, reading, addr, self.wr_valid, self.wr_addr, self.wr_data, self.wr_ready)
        m.d.comb += [
            pu.cmd.valid.eq(running & ~cmd_sent & ~self.start),
            pu.cmd.payload.tokens.eq(self.tokens), pu.cmd.payload.group.eq(self.group),
        ]
        wiring.connect(m, wiring.flipped(self.q), pu.q)
        wiring.connect(m, bank.rdata, pu.kv)
        wiring.connect(m, pu.part, wiring.flipped(self.part))
        with m.If(pu.cmd.valid & pu.cmd.ready):
            m.d.sync += cmd_sent.eq(1)
        with m.If(reading & bank.req.ready):
            m.d.sync += [issued.eq(issued + 1), addr.eq(addr + 1)]
        with m.If(pu.kv.valid & pu.kv.ready):
            m.d.sync += taken.eq(taken + 1)
        with m.If(running & ~self.start):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(taken < total):
                m.d.sync += self.stream_cycles.eq(self.stream_cycles + 1)
            with m.If(self.part.valid & self.part.ready):
                m.d.sync += self.partials.eq(self.partials + 1)
                with m.If(self.partials + 1 == self.group):
                    m.d.sync += [running.eq(0), self.done.eq(1)]
        m.d.comb += [self.reads.eq(bank.reads), self.activates.eq(bank.activates),
                     self.refreshes.eq(bank.refreshes), self.read_bus_cycles.eq(bank.read_bus_cycles),
                     self.pu_busy_cycles.eq(pu.busy_cycles)]
        return m
