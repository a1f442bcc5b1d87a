"""The floating-point units of one format behind one command and one output stream, for the job harness.

``lanes`` copies of every unit of ``fmt`` take the same command: ``lanes``
32-bit operands a (lane 0 in the low bits), then ``lanes`` operands b (a
16-bit unit reads the low half of each). One ``out`` word carries every
unit's ``lanes`` results, unit after unit in ``harness_units`` order. The
units' latencies differ, so each result is delayed to the longest one, L;
the units never stall, and a FIFO of ``DEPTH`` words behind them absorbs the
output's back-pressure: a command is taken only while fewer than ``DEPTH``
results are in flight or queued. Throughput: one command per cycle while
``out.ready`` is high.
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal, Value
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.formats import FloatFormat
from hw.fp.units import UNIT_SPECS
from sim.testbench.harness import HarnessPorts

__all__ = ["OPERAND_BITS", "DEPTH", "FP_PORTS", "harness_units", "FPStream"]

OPERAND_BITS = 32
DEPTH = 8
FP_PORTS = HarnessPorts(cmd="cmd", out="out")


def harness_units(fmt: FloatFormat) -> list[str]:
    return [name for name, spec in UNIT_SPECS.items() if fmt in spec.formats]


def out_width(fmt: FloatFormat, lanes: int) -> int:
    return lanes * sum(UNIT_SPECS[u].out_fmt(fmt).width for u in harness_units(fmt))


class FPStream(wiring.Component):
    """Every unit of ``fmt``, ``lanes`` times, behind one command stream and one output stream."""

    def __init__(self, fmt: FloatFormat, lanes: int):
        self._fmt, self._lanes = fmt, lanes
        self.units = {name: UNIT_SPECS[name].build(fmt) for name in harness_units(fmt)}
        self.latency = max(unit.latency for unit in self.units.values())
        super().__init__({"cmd": In(stream.Signature(2 * OPERAND_BITS * lanes)),
                          "out": Out(stream.Signature(out_width(fmt, lanes)))})

    def elaborate(self, platform):
        m = Module()
        fmt, lanes, depth = self._fmt, self._lanes, DEPTH
        take = Signal()
        in_flight = Signal(range(depth + 1))      # taken, not yet read from the FIFO
        m.d.comb += [self.cmd.ready.eq(in_flight < depth), take.eq(self.cmd.valid & self.cmd.ready)]
        done = self.out.valid & self.out.ready
        m.d.sync += in_flight.eq(in_flight + take - done)
        operands_a = self.cmd.payload[:OPERAND_BITS * lanes]
        operands_b = self.cmd.payload[OPERAND_BITS * lanes:]
        results = []
        for name, proto in self.units.items():
            spec = UNIT_SPECS[name]
            in_w = spec.in_fmt(fmt).width
            for lane in range(lanes):
                unit = proto if lane == 0 else spec.build(fmt)
                m.submodules[f"{name}_{lane}"] = unit
                a = operands_a[lane * OPERAND_BITS:][:in_w]
                b = operands_b[lane * OPERAND_BITS:][:in_w]
                m.d.comb += [unit.i.valid.eq(take), unit.i.payload.eq(Cat(a, b) if spec.arity == 2 else a),
                             unit.o.ready.eq(1)]
                result = Value.cast(unit.o.payload)
                for k in range(self.latency - unit.latency):          # align every result to the longest unit
                    aligned = Signal(len(result), name=f"{name}_{lane}_align{k}")
                    m.d.sync += aligned.eq(result)
                    result = aligned
                results.append(result)
        valid = take
        for k in range(self.latency):
            delayed = Signal(name=f"valid_d{k + 1}")
            m.d.sync += delayed.eq(valid)
            valid = delayed
        m.submodules.queue = queue = fifo.SyncFIFO(width=len(self.out.payload), depth=depth)
        m.d.comb += [queue.w_en.eq(valid), queue.w_data.eq(Cat(*results)),
                     self.out.valid.eq(queue.r_rdy), self.out.payload.eq(queue.r_data), queue.r_en.eq(self.out.ready)]
        return m
