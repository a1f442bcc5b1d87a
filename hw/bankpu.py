"""One bank with its PU: the host write path, the read sequencer that feeds the PU, and the PU.

The bank is a DRAM bank (``hw.bank.Bank``) or, for a flash tier, a flash die
on its channel (``hw.flash.FlashDie``); both have the same ports.

The host stores a (request, kv head)'s KV in the bank in exactly the order
the PU consumes it (``hw.kvlayout.kv_columns``: per block, K chunk-major,
then V token-major) from a column address ``base``. A ``run`` command
{base, tokens, group} starts the PU and streams 2·C·tokens columns from
``base`` (row-major addresses: row = a // columns_per_row) into it; the PU
takes the query vectors on ``q`` and emits G partials on ``part``. The PU
runs at the tier's ``pu_mhz`` inside the bank's ``memory_mhz`` domain
(``hw.puclock.ClockedPU``); every count here is in memory cycles.

Between the bank and the PU sits a FIFO of ``tier.kv_fifo_columns`` columns
(none at 0). Within a block the PU takes the K columns, then spends a fixed
turnaround (K drain, the α and P chain, the rescale) before it takes the V
columns; the bank's own output FIFO holds only the reads in flight, so
without the decoupling FIFO the bank stalls for that turnaround. With it,
the bank keeps streaming V columns while the PU turns around (sizing and
figures in docs/architecture.md).

Host writes (``wr``) go to the bank while no run is reading it. A run is
accepted only when the PU is idle.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.formats import FloatFormat

from .bank import Bank
from .flash import FlashDie
from .partial import partial_layout
from .pu import PU
from .puclock import ClockedPU
from .tierconfig import TierConfig

__all__ = ["BankPU", "share_bank_port", "address_bits", "memory_for"]


def memory_for(tier: TierConfig, sharers: int = 1) -> Bank | FlashDie:
    """The tier's storage element: a DRAM bank, or a flash die sharing its channel with ``sharers`` dies."""
    return FlashDie(tier, sharers) if tier.is_flash else Bank(tier)


def address_bits(tier: TierConfig) -> int:
    """Bits of a flat column address in one bank."""
    geo = tier.geometry
    return max(1, (geo.rows * geo.columns_per_row - 1).bit_length())


def share_bank_port(m: Module, bank: Bank, running, reading, addr, wr_valid, wr_addr, wr_data, wr_ready) -> None:
    """Give the bank's request port to the host write path when idle, to the read sequencer when running."""
    cols = bank.tier.geometry.columns_per_row
    target = Mux(running, addr, wr_addr)
    m.d.comb += [
        bank.req.valid.eq(Mux(running, reading, wr_valid)),
        bank.req.payload.write.eq(~running),
        bank.req.payload.row.eq(target // cols),
        bank.req.payload.col.eq(target % cols),
        bank.req.payload.data.eq(wr_data),
        wr_ready.eq(~running & bank.req.ready),
    ]


def run_layout(tier: TierConfig, max_group: int) -> data.StructLayout:
    return data.StructLayout({"base": address_bits(tier), "tokens": 32, "group": range(max_group + 1)})


class BankPU(wiring.Component):
    """A bank and its PU.

    Parameters
    ----------
    tier : TierConfig
        The bank's timing and geometry (``tier.with_rows`` for a small bank) and the PU's lanes.
    fmt, acc, head_dim, max_group, block_tokens
        As :class:`hw.pu.PU`.
    sharers : int
        Flash tiers: dies on the same channel (the die gets 1/sharers of it). Ignored for DRAM.
    """

    def __init__(self, tier: TierConfig, fmt: FloatFormat, acc: FloatFormat, head_dim: int, max_group: int,
                 block_tokens: int, sharers: int = 1):
        self._tier = tier
        self._memory = memory_for(tier, sharers)
        self._pu = PU(fmt, acc, tier.lanes, head_dim, max_group, block_tokens)
        # The PU at its own clock (hw.puclock), where the tier clocks it below the memory.
        self._unit = (ClockedPU(self._pu, tier.pu_mhz, tier.memory_mhz) if tier.pu_mhz < tier.memory_mhz
                      else self._pu)
        self._chunks = head_dim // tier.lanes
        bits = address_bits(tier)
        super().__init__({
            "wr": In(stream.Signature(data.StructLayout({"addr": bits, "data": tier.geometry.column_bits}))),
            "run": In(stream.Signature(run_layout(tier, max_group))),
            "q": In(stream.Signature(data.ArrayLayout(fmt.width, tier.lanes))),
            "part": Out(stream.Signature(partial_layout(acc, head_dim))),
            "reading": Out(1), "columns_taken": Out(32),
            "reads": Out(32), "activates": Out(32), "refreshes": Out(32), "read_bus_cycles": Out(32),
            "pu_busy": Out(1), "pu_busy_cycles": Out(32),
        })

    @property
    def pu(self) -> PU:
        return self._pu

    @property
    def memory(self) -> Bank | FlashDie:
        return self._memory

    def elaborate(self, platform):
        m = Module()
        capacity = self._tier.geometry.rows * self._tier.geometry.columns_per_row
        m.submodules.bank = bank = self._memory
        m.submodules.pu = pu = self._unit
        running, cmd_sent = Signal(name="running"), Signal(name="cmd_sent")
        issued, total = Signal(32, name="issued"), Signal(32, name="total")
        addr = Signal(address_bits(self._tier), name="addr")
        cmd = Signal(self.run.payload.shape(), name="cmd")

        m.d.comb += self.run.ready.eq(~running & pu.cmd.ready)
        with m.If(self.run.valid & self.run.ready):
            m.d.sync += [running.eq(1), cmd_sent.eq(0), issued.eq(0), addr.eq(self.run.payload.base),
                         total.eq(2 * self._chunks * self.run.payload.tokens), cmd.eq(self.run.payload),
                         self.columns_taken.eq(0)]
        reading = running & (issued < total)
        share_bank_port(m, bank, running, reading, addr, self.wr.valid, self.wr.payload.addr, self.wr.payload.data,
                        self.wr.ready)
        m.d.comb += [pu.cmd.valid.eq(running & ~cmd_sent), pu.cmd.payload.tokens.eq(cmd.tokens),
                     pu.cmd.payload.group.eq(cmd.group), self.reading.eq(running)]
        with m.If(pu.cmd.valid & pu.cmd.ready):
            m.d.sync += cmd_sent.eq(1)
        with m.If(reading & bank.req.ready):
            m.d.sync += [issued.eq(issued + 1), addr.eq(Mux(addr == capacity - 1, 0, addr + 1))]
        with m.If(running & cmd_sent & (issued == total)):
            m.d.sync += running.eq(0)
        with m.If(pu.kv.valid & pu.kv.ready):
            m.d.sync += self.columns_taken.eq(self.columns_taken + 1)
        wiring.connect(m, wiring.flipped(self.q), pu.q)
        if self._tier.kv_fifo_columns:
            m.submodules.kv_fifo = kv_fifo = fifo.SyncFIFOBuffered(width=self._tier.geometry.column_bits,
                                                                   depth=self._tier.kv_fifo_columns)
            m.d.comb += [kv_fifo.w_data.eq(bank.rdata.payload), kv_fifo.w_en.eq(bank.rdata.valid),
                         bank.rdata.ready.eq(kv_fifo.w_rdy),
                         pu.kv.payload.eq(kv_fifo.r_data), pu.kv.valid.eq(kv_fifo.r_rdy), kv_fifo.r_en.eq(pu.kv.ready)]
        else:
            wiring.connect(m, bank.rdata, pu.kv)
        wiring.connect(m, pu.part, wiring.flipped(self.part))
        m.d.comb += [self.reads.eq(bank.reads), self.activates.eq(bank.activates),
                     self.refreshes.eq(bank.refreshes), self.read_bus_cycles.eq(bank.read_bus_cycles),
                     self.pu_busy.eq(pu.busy), self.pu_busy_cycles.eq(pu.busy_cycles)]
        return m
