"""One flash die behind a shared channel: the SSD tier's counterpart of ``hw.bank.Bank``.

Same ports as the DRAM bank (``req`` {write, row, col, data}, ``rdata``), so
``hw.bankpu.BankPU`` puts a controller PU behind either. A row is a page, a
column one ``column_bits`` beat of it. Cycle-approximate, in controller cycles:

* a read to a page that is not in the die's page register first reads the
  page: ``tR`` cycles (``flash.tR``), during which nothing else happens on the
  die; reads are in order, one page at a time (no cache read, no multi-plane);
* each column then crosses the channel. The die owns 1/``sharers`` of the
  channel's bandwidth (time-division slots: the dies of a channel run in
  lockstep under the all-bank mapping, so a fixed share is what an arbiter
  would give them): a credit counter gains ``step`` per cycle and a column
  goes when the credit holds one column's ``cost``, spending it; the
  fraction left over carries to the next column, but a die that waits
  (page read, back-pressure) restarts with exactly one column's credit. cost/step is
  ``FlashTiming.column_cycles`` exactly (2400 MT/s x 8 bit over 4 dies:
  160/3 cycles per 32-byte column at 1 GHz);
* writes (the host's KV load path) store at once; program time is not
  modelled, as DRAM write latency is not.

Counters: ``reads``; ``activates`` counts page reads (the flash analogue of
ACT, so ``BankPU`` reports both tiers alike); ``refreshes`` stays 0;
``read_bus_cycles`` counts cycles in which the die's channel share is moving a
column. ``page_busy`` shows a page read in progress, for waveforms.
"""

from __future__ import annotations

from fractions import Fraction

from amaranth import Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .tierconfig import TierConfig

__all__ = ["FlashDie", "check_flash_die"]


def check_flash_die(tier: TierConfig, sharers: int = 1) -> None:
    """Refuse a tier without flash timing or fewer than one die on the channel (``FlashDie`` calls this before it
    exists)."""
    if not tier.is_flash:
        raise ValueError(f"tier {tier.name!r} has no [flash] timing; a DRAM tier needs hw.bank.Bank")
    if sharers < 1:
        raise ValueError(f"sharers must be >= 1, not {sharers}")


class FlashDie(wiring.Component):
    """A flash die with its page register and its share of the channel.

    Parameters
    ----------
    tier : TierConfig
        A flash tier (``hw/configs/ssd.toml``); ``tier.with_rows(n)`` keeps the die small.
    sharers : int
        Dies sharing the channel (each gets 1/sharers of its bandwidth).
    """

    def __new__(cls, tier: TierConfig, sharers: int = 1):
        check_flash_die(tier, sharers)  # before the object exists: a rejected one is never an unused elaboratable
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, tier: TierConfig, sharers: int = 1):
        self._tier = tier
        geo = tier.geometry
        rate = tier.timing.column_cycles(geo.column_bits, tier.memory_mhz, sharers)
        self._step, self._cost = rate.denominator, rate.numerator
        self._row_bits = max(1, (geo.rows - 1).bit_length())
        self._col_bits = max(1, (geo.columns_per_row - 1).bit_length())
        req = data.StructLayout({"write": 1, "row": self._row_bits, "col": self._col_bits,
                                 "data": geo.column_bits})
        super().__init__({
            "req": In(stream.Signature(req)),
            "rdata": Out(stream.Signature(geo.column_bits)),
            "page_busy": Out(1),
            "reads": Out(32), "writes": Out(32), "activates": Out(32), "refreshes": Out(32),
            "read_bus_cycles": Out(32),
        })

    @property
    def tier(self) -> TierConfig:
        return self._tier

    @property
    def column_cycles(self) -> Fraction:
        """Cycles per column on this die's channel share."""
        return Fraction(self._cost, self._step)

    def elaborate(self, platform):
        m = Module()
        geo, tR = self._tier.geometry, self._tier.timing.tR
        m.submodules.storage = storage = Memory(shape=geo.column_bits, depth=geo.rows * geo.columns_per_row, init=[])
        wport = storage.write_port()
        rport = storage.read_port(domain="sync")
        m.submodules.out_fifo = out_fifo = fifo.SyncFIFOBuffered(width=geo.column_bits, depth=2)

        page = Signal(self._row_bits, name="page")
        page_valid = Signal(name="page_valid")
        page_left = Signal(range(tR + 1), name="page_left")
        credit = Signal(range(self._cost + self._step + 1), name="channel_credit", init=self._cost)
        inflight = Signal(name="inflight")

        req = self.req.payload
        hit = page_valid & (page == req.row)
        room = inflight + out_fifo.level < 2
        read = self.req.valid & ~req.write & hit & (credit >= self._cost) & room
        write = self.req.valid & req.write
        start_page = self.req.valid & ~req.write & ~hit & (page_left == 0)
        m.d.comb += [self.req.ready.eq(read | write), self.page_busy.eq(page_left != 0)]

        with m.If(start_page):
            m.d.sync += [page.eq(req.row), page_valid.eq(0), page_left.eq(tR)]
        with m.Elif(page_left == 1):
            m.d.sync += page_valid.eq(1)
        with m.If(page_left != 0):
            m.d.sync += page_left.eq(page_left - 1)
        # Streaming carries the fraction of a cycle over; a die that waits restarts at exactly one column.
        refill = Mux(credit >= self._cost, self._cost, credit + self._step)
        m.d.sync += credit.eq(Mux(read, credit - self._cost + self._step, refill))

        address = req.row * geo.columns_per_row + req.col
        m.d.comb += [wport.addr.eq(address), wport.data.eq(req.data), wport.en.eq(write),
                     rport.addr.eq(address)]
        beat = Signal(name="rd_beat")
        m.d.sync += [beat.eq(read), inflight.eq(read)]
        m.d.comb += [out_fifo.w_data.eq(rport.data), out_fifo.w_en.eq(beat),
                     self.rdata.valid.eq(out_fifo.r_rdy), self.rdata.payload.eq(out_fifo.r_data),
                     out_fifo.r_en.eq(self.rdata.ready)]
        for counter, event in ((self.reads, read), (self.writes, write), (self.activates, start_page),
                               (self.read_bus_cycles, read | (credit < self._cost))):
            m.d.sync += counter.eq(counter + event)
        return m
