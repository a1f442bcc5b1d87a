"""Final normalisation at the top of the reduction tree (golden ``hwmodel.finalize``).

out = round_fmt(O · widen(reciprocal(round_fmt(l)))), chunk by chunk over W
multipliers that take ``acc`` operands and round once to ``fmt``. ``error``
flags what the golden model rejects: bit 0, l = 0 (attention over no tokens);
bit 1, round_fmt(l) overflows to infinity (the reciprocal unit's range). The
output is still produced, so a stream never stalls on bad data.

Cycles from the input transfer to the output being valid:
``1 + NORMALIZE_SCALE_LATENCY + C + FMUL_LATENCY``.
"""

from __future__ import annotations

import enum

from amaranth import Array, Cat, Module, Signal
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.formats import FloatFormat

from .fp.fconvert import FCONVERT_LATENCY, fconvert_datapath
from .fp.fmul import FMUL_LATENCY, fmul_datapath
from .fp.freciprocal import FRECIPROCAL_LATENCY, freciprocal_datapath
from .partial import VectorUnit
from .fp.pipeline import Pipeline, after_countdown, delay_line

__all__ = ["Normalize", "ERROR_EMPTY", "ERROR_OVERFLOW", "output_layout"]

ERROR_EMPTY = 1
ERROR_OVERFLOW = 2
NORMALIZE_SCALE_LATENCY = FCONVERT_LATENCY + FRECIPROCAL_LATENCY + FCONVERT_LATENCY


def output_layout(fmt: FloatFormat, head_dim: int) -> data.StructLayout:
    return data.StructLayout({"o": data.ArrayLayout(fmt.width, head_dim), "error": 2})


class Phase(enum.IntEnum):
    IDLE = 0
    SCALE = 1
    MULTIPLY = 2
    DRAIN = 3
    SEND = 4


class Normalize(VectorUnit):
    """Divide O by l once, at the top of the tree.

    Parameters
    ----------
    fmt, acc : FloatFormat
        Output (and reciprocal unit) format, and the partials' format.
    lanes, head_dim : int
        W multipliers; C = head_dim / W chunks.
    """

    def __init__(self, fmt: FloatFormat, acc: FloatFormat, lanes: int, head_dim: int):
        super().__init__(fmt, acc, lanes, head_dim, lambda partial: {
            "inp": In(stream.Signature(partial)),
            "out": Out(stream.Signature(output_layout(fmt, head_dim))),
        })

    def cycles(self) -> int:
        """Cycles from the input transfer to the output transfer, output always ready."""
        return 1 + NORMALIZE_SCALE_LATENCY + self._c + FMUL_LATENCY + 1

    def elaborate(self, platform):
        m = Module()
        fmt, acc, W, C = self._fmt, self._acc, self._w, self._c
        pipe = Pipeline(m, 1)
        phase = Signal(Phase, name="phase")
        wait = Signal(range(NORMALIZE_SCALE_LATENCY + FMUL_LATENCY + 1), name="wait")
        c = Signal(range(C + 1), name="c")
        x = Signal(self.inp.payload.shape(), name="x")
        rows = data.View(data.ArrayLayout(W * acc.width, C), x.o.as_value())
        outs = Array(Signal(W * fmt.width, name=f"out{i}") for i in range(C))

        l_narrow = fconvert_datapath(m, pipe, x.l, acc, fmt, "l_narrow")
        recip = fconvert_datapath(m, pipe, freciprocal_datapath(m, pipe, l_narrow, fmt, "recip"), fmt, acc,
                                  "recip_widen")
        row = data.View(data.ArrayLayout(acc.width, W), rows[c])
        products = [fmul_datapath(m, pipe, row[i], recip, acc, fmt, f"mul{i}") for i in range(W)]
        issue = Signal(name="issue")
        valid_d, c_d = delay_line(pipe, "issue", FMUL_LATENCY, issue, c)
        with m.If(valid_d):
            m.d.sync += outs[c_d].eq(Cat(*products))

        overflow = (l_narrow & ~fmt.sign_mask) == fmt.inf
        m.d.comb += [self.out.payload.o.eq(Cat(*outs)),
                     self.out.payload.error.eq(Cat(x.l == 0, overflow))]
        with m.Switch(phase):
            with m.Case(Phase.IDLE):
                m.d.comb += self.inp.ready.eq(1)
                with m.If(self.inp.valid):
                    m.d.sync += [x.eq(self.inp.payload), wait.eq(NORMALIZE_SCALE_LATENCY - 1), c.eq(0),
                                 phase.eq(Phase.SCALE)]
            with m.Case(Phase.SCALE):
                after_countdown(m, wait, phase.eq(Phase.MULTIPLY))
            with m.Case(Phase.MULTIPLY):
                m.d.comb += issue.eq(1)
                with m.If(c == C - 1):
                    m.d.sync += [wait.eq(FMUL_LATENCY - 1), phase.eq(Phase.DRAIN)]
                with m.Else():
                    m.d.sync += c.eq(c + 1)
            with m.Case(Phase.DRAIN):
                after_countdown(m, wait, phase.eq(Phase.SEND))
            with m.Case(Phase.SEND):
                m.d.comb += self.out.valid.eq(1)
                with m.If(self.out.ready):
                    m.d.sync += phase.eq(Phase.IDLE)
        return m
