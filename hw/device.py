"""A PIM device: N bank groups × M banks, each bank with its PU, one RU per bank group and a device RU.

For the SSD tier a bank group is a flash channel and a bank one of its dies
(``hw.flash.FlashDie``, 1/M of the channel each); the PUs and RUs sit in the
controller, one PU per die and one RU per channel.

Structure: every bank has a PU (``hw.bankpu.BankPU``);
the bank-group RU merges its banks' partials in bank order, and the device RU
(HBM: logic die; DDR: central buffer; SSD: controller) merges the bank
groups' partials in group order, head by head. That is ``golden.placement.Placement.tree`` for
one device.

Host command interface (``cmd`` in, one ``status`` out per command):

* ``SET_REGION`` {req, addr = base, limit}: request ``req`` owns columns
  [base, limit) in every bank (the mapping aligns a request's tokens to the
  same rows and columns in every bank). limit must not exceed the bank.
* ``WRITE_KV`` {req, bg, bank, addr, data}: one column into one bank; the
  address must lie in the request's region.
* ``LOAD_Q`` {addr = head g, q}: one pre-scaled query head (head_dim lanes).
* ``RUN`` {req, group, counts[N·M]}: an all-bank command. Bank b streams
  2·C·counts[b] columns from the request's region base into its PU; every
  bank needs its columns inside the region. The device then emits ``group``
  partials on ``part``, one per query head.

A rejected command (``status.code`` != OK) touches no memory and starts
nothing. ``pu_active`` / ``ru_active`` show any PU / RU of the device at work
(for the overlap and reduction-tail figures). A RUN waits (``cmd.ready`` low) until the previous run's partials
have all gone out.
"""

from __future__ import annotations

import enum

from amaranth import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.formats import FloatFormat

from .bankpu import BankPU, address_bits
from .partial import partial_layout
from .pu import check_pu_shape
from .ru import RU, fold_cycles
from .tierconfig import TierConfig

__all__ = ["Op", "Status", "STATUS_LAYOUT", "Device", "check_device_shape", "command_layout", "ordered_merge",
           "reduction_tail_bounds", "status_slot"]


class Op(enum.IntEnum):
    NOP = 0
    SET_REGION = 1
    WRITE_KV = 2
    LOAD_Q = 3
    RUN = 4
    REDUCE = 5              # the system top's own command (hw.system); a device answers it BAD_OP


class Status(enum.IntEnum):
    OK = 0
    BAD_OP = 1
    OUT_OF_DEVICE = 2       # bank group, bank, address, head or group beyond the device
    OUT_OF_REGION = 3       # a column outside the request's region
    BAD_REGION = 4          # base > limit or limit beyond the bank


STATUS_LAYOUT = data.StructLayout({"op": 3, "code": 3})


def command_layout(fmt: FloatFormat, column_bits: int, head_dim: int, banks: int) -> data.StructLayout:
    """Fields wide enough to carry out-of-range values, so the device can reject them."""
    return data.StructLayout({
        "op": 3, "req": 8, "bg": 8, "bank": 8, "addr": 32, "limit": 32, "group": 8,
        "data": column_bits, "q": data.ArrayLayout(fmt.width, head_dim), "counts": data.ArrayLayout(16, banks),
    })


def check_device_shape(tier: TierConfig, head_dim: int, max_group: int, block_tokens: int, bank_groups: int,
                       banks: int, requests: int = 4) -> None:
    """Refuse a device that cannot be built (``Device`` calls this before it, or any of its units, exists): at
    least one bank group, bank and region slot, and a PU shape ``hw.pu.check_pu_shape`` takes (which the
    RUs' ``hw.partial.check_vector_shape`` takes too)."""
    if bank_groups < 1 or banks < 1 or requests < 1:
        raise ValueError(f"bank_groups ({bank_groups}), banks ({banks}) and requests ({requests}) "
                         f"must be >= 1")
    check_pu_shape(tier.lanes, head_dim, max_group, block_tokens)


def status_slot(m: Module, port) -> tuple[Signal, Signal]:
    """A one-entry register behind the ``status`` stream ``port``: returns (full, reg). Whoever fills it sets
    both; a transfer on ``port`` empties it."""
    full = Signal(name="status_full")
    reg = Signal(port.payload.shape(), name="status_reg")
    m.d.comb += [port.valid.eq(full), port.payload.eq(reg)]
    with m.If(port.valid & port.ready):
        m.d.sync += full.eq(0)
    return full, reg


def reduction_tail_bounds(fold_cycles: int, fan_ins) -> tuple[int, int]:
    """(least, most) cycles a chain of RU levels with ``fan_ins`` adds after its last input is ready:
    one fold per level at least, the fold under way plus a whole head's inputs and the send at most."""
    return (len(fan_ins) * (fold_cycles - 1),
            sum((1 + fan_in) * fold_cycles + 2 for fan_in in fan_ins))


def ordered_merge(m: Module, sources, sink, name: str) -> None:
    """Connect ``sources`` (partial streams) to ``sink`` one after another, index order, forever:
    the RU behind ``sink`` folds them in the golden tree's child order."""
    sel = Signal(range(len(sources)), name=f"{name}_sel")
    valid = Array(s.valid for s in sources)
    payload = Array(s.payload.as_value() for s in sources)
    m.d.comb += [sink.valid.eq(valid[sel]), sink.payload.eq(payload[sel])]
    for i, s in enumerate(sources):
        m.d.comb += s.ready.eq((sel == i) & sink.ready)
    with m.If(sink.valid & sink.ready):
        m.d.sync += sel.eq(Mux(sel == len(sources) - 1, 0, sel + 1))


class Device(wiring.Component):
    """One PIM device, scaled down but structurally true.

    Parameters
    ----------
    tier : TierConfig
        Bank timing, geometry and PU lanes (``with_rows`` keeps a simulated bank small).
    fmt, acc : FloatFormat
    head_dim, max_group, block_tokens : int
        As :class:`hw.pu.PU`.
    bank_groups, banks : int
        N bank groups of M banks.
    requests : int
        Region slots (requests that may own KV in the device at once).
    separate : callable, optional
        ``separate(make, key)`` is called for every bank's PU and every RU with ``make``, a function that builds
        the unit, and a key naming the unit's configuration; it returns ``make()`` or a stand-in with the same
        signature. The simulator (``sim.verilator.separate``) uses it to build and emit each distinct unit once
        and instantiate it N times.
    """

    def __new__(cls, tier: TierConfig, fmt: FloatFormat, acc: FloatFormat, head_dim: int, max_group: int,
                block_tokens: int, bank_groups: int, banks: int, requests: int = 4, separate=None):
        # Checked before the object exists, so a rejected device is never an unused elaboratable.
        check_device_shape(tier, head_dim, max_group, block_tokens, bank_groups, banks, requests)
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, tier: TierConfig, fmt: FloatFormat, acc: FloatFormat, head_dim: int, max_group: int,
                 block_tokens: int, bank_groups: int, banks: int, requests: int = 4, separate=None):
        self._tier, self._fmt, self._acc = tier, fmt, acc
        self._d, self._gmax, self._n, self._m, self._req = head_dim, max_group, bank_groups, banks, requests
        self._w = tier.lanes
        separate = separate or (lambda make, key: make())
        pu_key = ("BankPU", tier, fmt.name, acc.name, head_dim, max_group, block_tokens, banks)
        ru_key = ("RU", fmt.name, acc.name, self._w, head_dim)

        def bank_pu():
            return BankPU(tier, fmt, acc, head_dim, max_group, block_tokens, sharers=banks)

        def ru():
            return RU(fmt, acc, self._w, head_dim)
        self._units = [[separate(bank_pu, pu_key) for _ in range(banks)] for _ in range(bank_groups)]
        self._rus = [separate(ru, ru_key) for _ in range(bank_groups)]
        self._dev_ru = separate(ru, ru_key)
        super().__init__({
            "cmd": In(stream.Signature(command_layout(fmt, tier.geometry.column_bits, head_dim,
                                                      bank_groups * banks))),
            "status": Out(stream.Signature(STATUS_LAYOUT)),
            "part": Out(stream.Signature(partial_layout(acc, head_dim))),
            "busy": Out(1), "pu_active": Out(1), "ru_active": Out(1),
        })

    @property
    def units(self) -> list[list[BankPU]]:
        return self._units

    @property
    def fan_ins(self) -> tuple[int, int]:
        """Inputs each RU level folds per query head: M in a bank-group RU, then N in the device RU."""
        return self._m, self._n

    def tail_bounds(self) -> tuple[int, int]:
        """Cycles from the last of the device's PUs going idle to its last partial leaving, output always
        ready (the reduction tail; the run lasts the longest bank's PU span plus this).

        At least, each level folds the last bank's partial after it arrives: ``fold_cycles - 1`` per
        level (its take cycle overlaps the transfer). At most, each level still owes the fold under way and
        every input of the last head, ``(1 + fan-in)`` folds and its send: back-pressure inside the tree keeps
        a PU busy until its bank-group RU has taken the partial, so nothing older is left.
        """
        return reduction_tail_bounds(fold_cycles(self._w, self._d), self.fan_ins)

    def elaborate(self, platform):
        m = Module()
        N, M, W, C = self._n, self._m, self._w, self._d // self._w
        fmt = self._fmt
        capacity = self._tier.geometry.rows * self._tier.geometry.columns_per_row
        units = [u for group in self._units for u in group]
        for i, u in enumerate(units):
            m.submodules[f"bg{i // M}_bank{i % M}"] = u
        for g, ru in enumerate(self._rus):
            m.submodules[f"bg{g}_ru"] = ru
            ordered_merge(m, [u.part for u in self._units[g]], ru.inp, f"bg{g}")
        m.submodules.device_ru = dev_ru = self._dev_ru
        ordered_merge(m, [ru.out for ru in self._rus], dev_ru.inp, "device")
        wiring.connect(m, dev_ru.out, wiring.flipped(self.part))

        # Region table and query buffer.
        abits = address_bits(self._tier)
        bases = Array(Signal(abits + 1, name=f"region{r}_base") for r in range(self._req))
        limits = Array(Signal(abits + 1, name=f"region{r}_limit") for r in range(self._req))
        qbuf = Array(Signal(fmt.width * self._d, name=f"q{g}") for g in range(self._gmax))

        cmd = self.cmd.payload
        req_ok = cmd.req < self._req
        base, limit = bases[cmd.req], limits[cmd.req]
        unit_ok = (cmd.bg < N) & (cmd.bank < M)
        in_region = (cmd.addr >= base) & (cmd.addr < limit)
        span = [2 * C * cmd.counts[i] for i in range(N * M)]
        run_in_region = Cat(*((cmd.counts[i] == 0) | (base + span[i] <= limit) for i in range(N * M))).all()
        code = Signal(3, name="check")
        with m.Switch(cmd.op):
            with m.Case(Op.SET_REGION):
                m.d.comb += code.eq(Mux(~req_ok, Status.OUT_OF_DEVICE,
                                        Mux((cmd.addr > cmd.limit) | (cmd.limit > capacity), Status.BAD_REGION,
                                            Status.OK)))
            with m.Case(Op.WRITE_KV):
                m.d.comb += code.eq(Mux(~req_ok | ~unit_ok | (cmd.addr >= capacity), Status.OUT_OF_DEVICE,
                                        Mux(~in_region, Status.OUT_OF_REGION, Status.OK)))
            with m.Case(Op.LOAD_Q):
                m.d.comb += code.eq(Mux(cmd.addr >= self._gmax, Status.OUT_OF_DEVICE, Status.OK))
            with m.Case(Op.RUN):
                m.d.comb += code.eq(Mux(~req_ok | (cmd.group == 0) | (cmd.group > self._gmax),
                                        Status.OUT_OF_DEVICE,
                                        Mux(~run_in_region, Status.OUT_OF_REGION, Status.OK)))
            with m.Default():
                m.d.comb += code.eq(Status.BAD_OP)

        # Run state: q broadcast (lockstep over every PU), RU commands, partials out.
        running = Signal(name="running")
        q_left = Signal(range(self._gmax * C + 1), name="q_left")
        q_g, q_c = Signal(range(self._gmax), name="q_g"), Signal(range(C), name="q_c")
        group = Signal(range(self._gmax + 1), name="group")
        ru_left = [Signal(range(self._gmax + 1), name=f"bg{g}_ru_cmds") for g in range(N)]
        dev_left = Signal(range(self._gmax + 1), name="device_ru_cmds")
        out_left = Signal(range(self._gmax + 1), name="parts_left")
        run_cmd = Signal(name="run_cmd")
        run_req = Signal(range(self._req), name="run_req")
        counts = Signal(self.cmd.payload.counts.shape(), name="run_counts")

        # Status: one per command, held until taken; a command is taken only when its status can go out.
        status_full, status = status_slot(m, self.status)

        wr_target = cmd.bg * M + cmd.bank
        wr_ready = Array(u.wr.ready for u in units)[wr_target]
        accept_write = (code == Status.OK) & (cmd.op == Op.WRITE_KV)
        free = ~status_full & ~running
        can_take = free & (~accept_write | wr_ready)
        m.d.comb += self.cmd.ready.eq(can_take)
        take = self.cmd.valid & can_take
        for i, u in enumerate(units):
            m.d.comb += [u.wr.valid.eq(self.cmd.valid & free & accept_write & (wr_target == i)),
                         u.wr.payload.addr.eq(cmd.addr), u.wr.payload.data.eq(cmd.data)]
        with m.If(take):
            m.d.sync += [status_full.eq(1), status.op.eq(cmd.op), status.code.eq(code)]
            with m.If(code == Status.OK):
                with m.Switch(cmd.op):
                    with m.Case(Op.SET_REGION):
                        m.d.sync += [bases[cmd.req].eq(cmd.addr), limits[cmd.req].eq(cmd.limit)]
                    with m.Case(Op.LOAD_Q):
                        m.d.sync += qbuf[cmd.addr].eq(cmd.q.as_value())
                    with m.Case(Op.RUN):
                        m.d.sync += [running.eq(1), run_cmd.eq(1), run_req.eq(cmd.req), counts.eq(cmd.counts),
                                     group.eq(cmd.group), q_left.eq(cmd.group * C), q_g.eq(0), q_c.eq(0),
                                     dev_left.eq(cmd.group), out_left.eq(cmd.group),
                                     *(r.eq(cmd.group) for r in ru_left)]

        # All-bank run command: every PU takes it in the same cycle (all are idle when a RUN is taken).
        runs_ready = Cat(*(u.run.ready for u in units)).all()
        for i, u in enumerate(units):
            m.d.comb += [u.run.valid.eq(run_cmd & runs_ready), u.run.payload.base.eq(bases[run_req]),
                         u.run.payload.tokens.eq(counts[i]), u.run.payload.group.eq(group)]
        with m.If(run_cmd & runs_ready):
            m.d.sync += run_cmd.eq(0)
        # Query broadcast: one W-lane chunk per cycle to every PU at once.
        q_ready = Cat(*(u.q.ready for u in units)).all()
        q_rows = data.View(data.ArrayLayout(W * fmt.width, C), qbuf[q_g])
        for u in units:
            m.d.comb += [u.q.valid.eq(~run_cmd & (q_left > 0) & q_ready), u.q.payload.eq(q_rows[q_c])]
        with m.If(~run_cmd & (q_left > 0) & q_ready):
            m.d.sync += [q_left.eq(q_left - 1), q_c.eq(Mux(q_c == C - 1, 0, q_c + 1))]
            with m.If(q_c == C - 1):
                m.d.sync += q_g.eq(q_g + 1)
        # G reduction commands per RU: the bank-group RUs fold M inputs, the device RU N.
        for ru, left, inputs in [*((ru, left, M) for ru, left in zip(self._rus, ru_left)), (dev_ru, dev_left, N)]:
            m.d.comb += [ru.cmd.valid.eq(running & (left > 0)), ru.cmd.payload.inputs.eq(inputs)]
            with m.If(ru.cmd.valid & ru.cmd.ready):
                m.d.sync += left.eq(left - 1)
        with m.If(self.part.valid & self.part.ready):
            m.d.sync += out_left.eq(out_left - 1)
            with m.If(out_left == 1):
                m.d.sync += running.eq(0)
        m.d.comb += [self.busy.eq(running), self.pu_active.eq(Cat(*(u.pu_busy for u in units)).any()),
                     self.ru_active.eq(Cat(*(ru.busy for ru in [*self._rus, dev_ru])).any())]
        return m
