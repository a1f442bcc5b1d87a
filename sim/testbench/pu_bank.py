"""A bank feeding its PU (``hw.bankpu.BankPU``) with counters, behind one command stream for the job harness.

Commands (``cmd``, ``PUBank.command``): ``WRITE`` a column into the bank,
``START`` one run from column address 0 over ``tokens`` tokens for ``group``
query heads, ``QUERY`` one query vector (G·C of them after a start).
``cycles`` counts from ``START`` to the last partial out, ``stream_cycles``
to the last column the PU takes in, and the bank's counters give the
read-bus utilisation. The clock and the stimulus come from the harness
(``sim/testbench/harness.py``).
"""

from __future__ import annotations

import enum

from amaranth import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.formats import FloatFormat
from hw.bankpu import BankPU, address_bits
from hw.partial import partial_layout
from hw.tierconfig import TierConfig
from sim.testbench.harness import HarnessPorts

__all__ = ["PUBank", "PUBankOp", "PU_BANK_PORTS"]

COUNTERS = ("cycles", "stream_cycles", "reads", "activates", "refreshes", "read_bus_cycles", "pu_busy_cycles")
PU_BANK_PORTS = HarnessPorts(cmd="cmd", out="part", counters=COUNTERS, done="done")


class PUBankOp(enum.IntEnum):
    WRITE = 0
    START = 1
    QUERY = 2


class PUBank(wiring.Component):
    def __init__(self, tier: TierConfig, fmt: FloatFormat, acc: FloatFormat, head_dim: int, max_group: int,
                 block_tokens: int, sharers: int = 1):
        self._unit = BankPU(tier, fmt, acc, head_dim, max_group, block_tokens, sharers)
        self._chunks = head_dim // tier.lanes
        self._addr_bits = address_bits(tier)
        self._max_group = max_group
        body = max(self._addr_bits + tier.geometry.column_bits, 32 + 8, fmt.width * tier.lanes)
        self.command = data.StructLayout({"op": 2, "body": body})
        super().__init__({
            "cmd": In(stream.Signature(self.command)),
            "part": Out(stream.Signature(partial_layout(acc, head_dim))),
            "done": Out(1), **{name: Out(32) for name in COUNTERS},
        })

    def pack(self, op: PUBankOp, *fields: tuple[int, int]) -> int:
        """A command word: ``op`` and its body, the (value, width) fields packed from bit 0."""
        body, shift = 0, 0
        for value, width in fields:
            body |= (int(value) & ((1 << width) - 1)) << shift
            shift += width
        return int(op) | body << 2

    def write(self, addr: int, column_word: int) -> int:
        return self.pack(PUBankOp.WRITE, (addr, self._addr_bits), (column_word, self._unit.wr.payload.data.shape().width))

    def start(self, tokens: int, group: int) -> int:
        return self.pack(PUBankOp.START, (tokens, 32), (group, 8))

    def query(self, lanes_word: int) -> int:
        return self.pack(PUBankOp.QUERY, (lanes_word, self.command.size - 2))

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self._unit
        running = Signal()
        tokens, group = Signal(32), Signal(8)
        op, body = self.cmd.payload.op, self.cmd.payload.body
        is_write, is_start, is_query = (self.cmd.valid & (op == k) for k in PUBankOp)
        m.d.comb += [unit.wr.valid.eq(is_write), unit.wr.payload.addr.eq(body[:self._addr_bits]),
                     unit.wr.payload.data.eq(body[self._addr_bits:]),
                     unit.run.valid.eq(is_start), unit.run.payload.base.eq(0),
                     unit.run.payload.tokens.eq(body[:32]), unit.run.payload.group.eq(body[32:40]),
                     unit.q.valid.eq(is_query), unit.q.payload.eq(body),
                     self.cmd.ready.eq(((op == PUBankOp.WRITE) & unit.wr.ready)
                                       | ((op == PUBankOp.START) & unit.run.ready)
                                       | ((op == PUBankOp.QUERY) & unit.q.ready))]
        wiring.connect(m, unit.part, wiring.flipped(self.part))
        started = is_start & unit.run.ready
        with m.If(started):
            m.d.sync += [running.eq(1), self.cycles.eq(0), self.stream_cycles.eq(0), self.done.eq(0),
                         tokens.eq(body[:32]), group.eq(body[32:40])]
        partials = Signal(8)
        with m.If(started):
            m.d.sync += partials.eq(0)
        with m.If(running & ~started):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(unit.columns_taken < 2 * self._chunks * tokens):
                m.d.sync += self.stream_cycles.eq(self.stream_cycles + 1)
            with m.If(self.part.valid & self.part.ready):
                m.d.sync += partials.eq(partials + 1)
                with m.If(partials + 1 == group):
                    m.d.sync += [running.eq(0), self.done.eq(1)]
        m.d.comb += [self.reads.eq(unit.reads), self.activates.eq(unit.activates),
                     self.refreshes.eq(unit.refreshes), self.read_bus_cycles.eq(unit.read_bus_cycles),
                     self.pu_busy_cycles.eq(unit.pu_busy_cycles)]
        return m
