"""Reduction unit: merges partials (m, l, O) of one query head, in arrival order, exactly as the golden RU.

For a command ``inputs`` = n, the RU starts a running partial at the identity
(m = -inf, l = +0, O = +0) and folds n partials from ``inp`` into it, one at a
time (``golden.hwmodel.ru_merge``):

* m* = max(m_r, m_x) (comparator);
* s_r = exp2(round_fmt(m_r - m*)), s_x = exp2(round_fmt(m_x - m*)), on two
  exp2-of-difference chains that run side by side;
* l* = l_r·s_r + l_x·s_x, and O* = O_r·s_r + O_x·s_x chunk by chunk over a
  W-lane vector-scalar multiply (2W multipliers) and W adders;
* if m* = -inf (both inputs empty) the result is the identity.

Then it emits the running partial on ``out``; n = 0 emits the identity. The
operands of the exp2 chains are held in registers for the whole merge, so the
chains' outputs stay valid while the O chunks stream through.

Cycles from the command to the output (inputs always valid, output ready):
``cycles(n) = 2 + n · (1 + EXP2_DIFF_LATENCY + C + FMUL_LATENCY + FADD_LATENCY)``
with C = head_dim / W; see docs/architecture.md.
"""

from __future__ import annotations

import enum

from amaranth import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.formats import FloatFormat

from .fp.expdiff import EXP2_DIFF_LATENCY, exp2_difference_datapath
from .fp.fadd import FADD_LATENCY, fadd_datapath
from .fp.fmax import fmax_value
from .fp.fmul import FMUL_LATENCY, fmul_datapath
from .partial import VectorUnit, identity_bits
from .fp.pipeline import Pipeline, after_countdown, delay_line

__all__ = ["RU", "MERGE_OVERHEAD", "fold_cycles"]

MERGE_OVERHEAD = 1 + EXP2_DIFF_LATENCY + FMUL_LATENCY + FADD_LATENCY   # cycles of a merge beside its C chunks


def fold_cycles(lanes: int, head_dim: int) -> int:
    """Cycles an RU spends folding one input partial: MERGE_OVERHEAD plus one per W-lane chunk of O."""
    return MERGE_OVERHEAD + head_dim // lanes


class Phase(enum.IntEnum):
    IDLE = 0
    TAKE = 1
    SCALE = 2
    MERGE = 3
    DRAIN = 4
    SEND = 5


class RU(VectorUnit):
    """Reduction unit.

    Parameters
    ----------
    fmt, acc : FloatFormat
        Compute format of the exp2 units, and the partials' format.
    lanes : int
        W, lanes of the vector multiply-add.
    head_dim : int
        Length of O; a multiple of W.
    """

    def __init__(self, fmt: FloatFormat, acc: FloatFormat, lanes: int, head_dim: int):
        super().__init__(fmt, acc, lanes, head_dim, lambda partial: {
            "cmd": In(stream.Signature(data.StructLayout({"inputs": 16}))),
            "inp": In(stream.Signature(partial)),
            "out": Out(stream.Signature(partial)),
            "busy": Out(1), "busy_cycles": Out(32),
        })

    def cycles(self, inputs: int) -> int:
        """Cycles from the command transfer to the output transfer, with inputs valid and output ready:
        the command, ``inputs`` folds, the send."""
        return 2 + inputs * fold_cycles(self._w, self._c * self._w)

    def elaborate(self, platform):
        m = Module()
        fmt, acc, W, C = self._fmt, self._acc, self._w, self._c
        pipe = Pipeline(m, 1)
        neg_inf = identity_bits(acc)
        avec = data.ArrayLayout(acc.width, W)

        phase = Signal(Phase, name="phase")
        count = Signal(16, name="count")
        c = Signal(range(C + 1), name="c")
        wait = Signal(range(EXP2_DIFF_LATENCY + 1), name="wait")
        m_r = Signal(acc.width, name="m_run", init=neg_inf)
        l_r = Signal(acc.width, name="l_run")
        o_r = Array(Signal(avec, name=f"o_run{i}") for i in range(C))
        x = Signal(self.inp.payload.shape(), name="x")
        m_new = Signal(acc.width, name="m_new")
        empty = m_new == neg_inf

        # Scale factors: two exp2-of-difference chains on registers held for the whole merge.
        _, s_r = exp2_difference_datapath(m, pipe, m_r, m_new, fmt, acc, "sr")
        _, s_x = exp2_difference_datapath(m, pipe, x.m, m_new, fmt, acc, "sx")
        l_sum = fadd_datapath(m, pipe, fmul_datapath(m, pipe, l_r, s_r, acc, acc, "lr_mul"),
                              fmul_datapath(m, pipe, x.l, s_x, acc, acc, "lx_mul"), acc, "l_add")

        # O chunks: c issues at MERGE, its sum is written FMUL+FADD cycles later.
        issue = Signal(name="issue")
        x_rows = data.View(data.ArrayLayout(W * acc.width, C), x.o.as_value())
        row_r, row_x = data.View(avec, o_r[c]), data.View(avec, x_rows[c])
        sums = [fadd_datapath(m, pipe, fmul_datapath(m, pipe, row_r[i], s_r, acc, acc, f"or_mul{i}"),
                              fmul_datapath(m, pipe, row_x[i], s_x, acc, acc, f"ox_mul{i}"), acc, f"o_add{i}")
                for i in range(W)]
        valid_d, c_d = delay_line(pipe, "o_issue", FMUL_LATENCY + FADD_LATENCY, issue, c)
        with m.If(valid_d):
            m.d.sync += o_r[c_d].eq(Mux(empty, 0, Cat(*sums)))

        m.d.comb += [self.out.payload.m.eq(m_r), self.out.payload.l.eq(l_r),
                     self.out.payload.o.eq(Cat(*o_r))]
        # busy: merging an input (taking it, scaling, the O chunks, draining), not waiting on a stream
        m.d.comb += self.busy.eq((phase == Phase.TAKE) & self.inp.valid | (phase == Phase.SCALE) |
                                 (phase == Phase.MERGE) | (phase == Phase.DRAIN))
        m.d.sync += self.busy_cycles.eq(self.busy_cycles + self.busy)
        with m.Switch(phase):
            with m.Case(Phase.IDLE):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    m.d.sync += [count.eq(self.cmd.payload.inputs), m_r.eq(neg_inf), l_r.eq(0),
                                 *(o_r[i].eq(0) for i in range(C)),
                                 phase.eq(Mux(self.cmd.payload.inputs == 0, Phase.SEND, Phase.TAKE))]
            with m.Case(Phase.TAKE):
                m.d.comb += self.inp.ready.eq(1)
                with m.If(self.inp.valid):
                    m.d.sync += [x.eq(self.inp.payload), m_new.eq(fmax_value(m_r, self.inp.payload.m, acc)),
                                 wait.eq(EXP2_DIFF_LATENCY - 1), phase.eq(Phase.SCALE)]
            with m.Case(Phase.SCALE):                  # the exp2 chains settle
                after_countdown(m, wait, c.eq(0), phase.eq(Phase.MERGE))
            with m.Case(Phase.MERGE):
                m.d.comb += issue.eq(1)
                with m.If(c == C - 1):
                    m.d.sync += [wait.eq(FMUL_LATENCY + FADD_LATENCY - 1), phase.eq(Phase.DRAIN)]
                with m.Else():
                    m.d.sync += c.eq(c + 1)
            with m.Case(Phase.DRAIN):                  # the last chunk lands; l and m take their new values
                after_countdown(m, wait, m_r.eq(m_new), l_r.eq(Mux(empty, 0, l_sum)), count.eq(count - 1),
                                phase.eq(Mux(count == 1, Phase.SEND, Phase.TAKE)))
            with m.Case(Phase.SEND):
                m.d.comb += self.out.valid.eq(1)
                with m.If(self.out.ready):
                    m.d.sync += phase.eq(Phase.IDLE)
        return m
