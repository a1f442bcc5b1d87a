"""One DRAM bank: storage in rows and columns, a row buffer, and a timing controller.

Cycle-approximate: every column the bank returns is paid for in the cycles a
real bank needs. Controller policy (documented in docs/architecture.md):

* in-order, open-page: a request to the open row issues a column command; a
  request to another row precharges, then activates;
* constraints, in memory-clock cycles: ACT→RD/WR ≥ tRCD; column→column
  ≥ max(tCCD_L, tBL); ACT→PRE ≥ tRAS; RD→PRE ≥ tRTP; WR→PRE ≥ tBL + tWR;
  PRE→ACT/REF ≥ tRP; REF→ACT/REF ≥ tRFC;
* refresh: a REF falls due every tREFI cycles (the due time advances by
  exactly tREFI per REF, so the average rate is exact). A due refresh takes
  priority over requests: the open row is closed and REF issued as soon as
  the constraints allow;
* read data: one ``column_bits`` beat per RD, ``tCL`` cycles after the
  command, on a data bus that is then busy for tBL cycles. Reads issue only
  when the output FIFO has room for every read in flight, so back-pressure on
  ``rdata`` never loses data;
* writes (the host's KV load path) store at command time; write latency is not
  modelled.

Counters (``reads``, ``writes``, ``activates``, ``precharges``, ``refreshes``,
``read_bus_cycles``) feed the utilisation figures. ``cmd``/``cmd_row``/
``cmd_col`` show the command issued each cycle, for waveforms and for the
independent constraint checker in ``sim/runs/bank_timing.py``.
"""

from __future__ import annotations

import enum

from amaranth import Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .tierconfig import TierConfig

__all__ = ["Command", "Bank", "check_dram_tier"]


class Command(enum.IntEnum):
    NOP = 0
    ACT = 1
    PRE = 2
    RD = 3
    WR = 4
    REF = 5


def check_dram_tier(tier: TierConfig) -> None:
    """Refuse a flash tier where a DRAM bank is asked for, naming the tier (``Bank`` calls this before it
    exists)."""
    if tier.is_flash:
        raise ValueError(f"tier: {tier.name} is a flash tier; a DRAM bank needs a DRAM tier (hbm3, ddr4), and a "
                         f"flash die is hw.flash.FlashDie")


class Bank(wiring.Component):
    """A DRAM bank with its timing controller.

    Parameters
    ----------
    tier : TierConfig
        Timing and geometry (``hw/configs/*.toml``); use ``tier.with_rows(n)``
        for a small simulated bank.

    Attributes
    ----------
    req : In(stream)  # {write, row, col, data}: one column access
    rdata : Out(stream)  # one column (``column_bits``) per read, in order
    """

    def __new__(cls, tier: TierConfig):
        check_dram_tier(tier)           # before the object exists: a rejected one is never an unused elaboratable
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, tier: TierConfig):
        self._tier = tier
        geo = tier.geometry
        self._row_bits = max(1, (geo.rows - 1).bit_length())
        self._col_bits = max(1, (geo.columns_per_row - 1).bit_length())
        t = tier.timing
        self._fifo_depth = -(-t.tCL // t.column_period) + 2
        req = data.StructLayout({"write": 1, "row": self._row_bits, "col": self._col_bits,
                                 "data": geo.column_bits})
        super().__init__({
            "req": In(stream.Signature(req)),
            "rdata": Out(stream.Signature(geo.column_bits)),
            "cmd": Out(3), "cmd_row": Out(self._row_bits), "cmd_col": Out(self._col_bits),
            "reads": Out(32), "writes": Out(32), "activates": Out(32), "precharges": Out(32),
            "refreshes": Out(32), "read_bus_cycles": Out(32),
        })

    @property
    def tier(self) -> TierConfig:
        return self._tier

    def elaborate(self, platform):
        m = Module()
        t, geo = self._tier.timing, self._tier.geometry
        m.submodules.storage = storage = Memory(shape=geo.column_bits, depth=geo.rows * geo.columns_per_row, init=[])
        wport = storage.write_port()
        rport = storage.read_port(domain="sync")
        m.submodules.out_fifo = out_fifo = fifo.SyncFIFOBuffered(width=geo.column_bits, depth=self._fifo_depth)

        # Cycles since each command (saturating): the constraints compare against these.
        horizon = max(t.tRAS, t.tRCD, t.tRP, t.tRFC, t.tRTP, t.tWR + t.tBL, t.column_period) + 1

        def since(name):
            return Signal(range(horizon + 1), name=f"since_{name}", init=horizon)

        s_act, s_pre, s_ref, s_col, s_rd, s_wr = (since(n) for n in ("act", "pre", "ref", "col", "rd", "wr"))
        row_open = Signal(name="row_open")
        open_row = Signal(self._row_bits, name="open_row")
        ref_timer = Signal(range(2 * t.tREFI + 1), name="ref_timer")
        ref_due = Signal(name="ref_due")
        m.d.comb += ref_due.eq(ref_timer >= t.tREFI)

        # Reads in flight (issued, data not yet in the FIFO) must fit in the FIFO.
        inflight = Signal(range(self._fifo_depth + 1), name="inflight")
        credit = Signal(name="read_credit")
        m.d.comb += credit.eq(inflight + out_fifo.level < self._fifo_depth)

        can_close = (s_act >= t.tRAS) & (s_rd >= t.tRTP) & (s_wr >= t.tWR + t.tBL)
        can_open = (s_pre >= t.tRP) & (s_ref >= t.tRFC)
        can_column = (s_act >= t.tRCD) & (s_col >= t.column_period)
        req = self.req.payload
        hit = row_open & (open_row == req.row)

        cmd = Signal(Command, name="command")
        with m.If(ref_due):
            with m.If(row_open & can_close):
                m.d.comb += cmd.eq(Command.PRE)
            with m.Elif(~row_open & can_open):
                m.d.comb += cmd.eq(Command.REF)
        with m.Elif(self.req.valid):
            with m.If(hit & can_column & (req.write | credit)):
                m.d.comb += cmd.eq(Mux(req.write, Command.WR, Command.RD))
            with m.Elif(row_open & ~hit & can_close):
                m.d.comb += cmd.eq(Command.PRE)
            with m.Elif(~row_open & can_open):
                m.d.comb += cmd.eq(Command.ACT)

        is_col = (cmd == Command.RD) | (cmd == Command.WR)
        m.d.comb += [
            self.req.ready.eq(is_col),
            self.cmd.eq(cmd), self.cmd_row.eq(Mux(cmd == Command.ACT, req.row, open_row)),
            self.cmd_col.eq(req.col),
        ]
        for counter, issued in ((s_act, cmd == Command.ACT), (s_pre, cmd == Command.PRE),
                                (s_ref, cmd == Command.REF), (s_col, is_col), (s_rd, cmd == Command.RD),
                                (s_wr, cmd == Command.WR)):
            m.d.sync += counter.eq(Mux(issued, 1, Mux(counter == horizon, horizon, counter + 1)))
        with m.If(cmd == Command.ACT):
            m.d.sync += [row_open.eq(1), open_row.eq(req.row)]
        with m.If(cmd == Command.PRE):
            m.d.sync += row_open.eq(0)
        m.d.sync += ref_timer.eq(ref_timer + 1 - Mux(cmd == Command.REF, t.tREFI, 0))

        address = Signal(range(geo.rows * geo.columns_per_row), name="address")
        m.d.comb += address.eq(open_row * geo.columns_per_row + req.col)
        m.d.comb += [wport.addr.eq(address), wport.data.eq(req.data), wport.en.eq(cmd == Command.WR)]

        # Read pipeline: the address travels tCL - 1 cycles, then a synchronous read
        # delivers the beat tCL cycles after the RD command.
        valid, addr = cmd == Command.RD, address
        for stage in range(t.tCL - 1):
            v, a = Signal(name=f"rd_valid_{stage + 1}"), Signal.like(address, name=f"rd_addr_{stage + 1}")
            m.d.sync += [v.eq(valid), a.eq(addr)]
            valid, addr = v, a
        beat = Signal(name="rd_beat")
        m.d.comb += rport.addr.eq(addr)
        m.d.sync += beat.eq(valid)
        m.d.comb += [out_fifo.w_data.eq(rport.data), out_fifo.w_en.eq(beat)]
        m.d.comb += [self.rdata.valid.eq(out_fifo.r_rdy), self.rdata.payload.eq(out_fifo.r_data),
                     out_fifo.r_en.eq(self.rdata.ready)]
        m.d.sync += inflight.eq(inflight + (cmd == Command.RD) - beat)

        # The data bus carries each read beat for tBL cycles.
        bus_left = Signal(range(t.tBL + 1), name="bus_left")
        m.d.sync += bus_left.eq(Mux(beat, t.tBL - 1, Mux(bus_left > 0, bus_left - 1, 0)))
        bus_busy = beat | (bus_left > 0)
        for counter, event in ((self.reads, cmd == Command.RD), (self.writes, cmd == Command.WR),
                               (self.activates, cmd == Command.ACT), (self.precharges, cmd == Command.PRE),
                               (self.refreshes, cmd == Command.REF), (self.read_bus_cycles, bus_busy)):
            m.d.sync += counter.eq(counter + event)
        return m
