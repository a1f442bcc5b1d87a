"""Fixed-latency pipelines with one global stall, and the stream component that wraps them.

A datapath function builds combinational logic and calls :meth:`Pipeline.register`
at its stage boundaries. Every register of one pipeline advances together
when ``advance`` is high; this gives initiation interval 1 and lets a
back-pressured output stall the whole pipeline without losing data.
Datapaths compose: a unit built from others (the dot product, the PU)
registers on the same :class:`Pipeline`.
"""

from __future__ import annotations

from amaranth import Module, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Pipeline", "PipelinedUnit", "UnaryUnit", "BinaryUnit", "after_countdown", "delay_line"]


class Pipeline:
    """Creates stage registers that load when ``advance`` is high.

    Parameters
    ----------
    m : Module
    advance : Value
        High when every stage may move one step forward.
    """

    def __init__(self, m: Module, advance: Value):
        self._m = m
        self._advance = advance

    def register(self, name: str, value) -> Signal:
        """A register named ``name`` (it shows up so in waveforms) that loads ``value``."""
        value = Value.cast(value)
        reg = Signal(value.shape(), name=name)
        with self._m.If(self._advance):
            self._m.d.sync += reg.eq(value)
        return reg


def after_countdown(m: Module, counter: Signal, *then) -> None:
    """Count ``counter`` down to 0, then do ``then`` (sync statements): a phase waits for pipelines."""
    with m.If(counter == 0):
        m.d.sync += list(then)
    with m.Else():
        m.d.sync += counter.eq(counter - 1)


def delay_line(pipe: Pipeline, name: str, cycles: int, *values, **named) -> list:
    """``values`` and ``named`` values delayed by ``cycles`` pipeline registers, e.g. a valid bit and the indices
    travelling beside a datapath; returns the delayed ``values``, then the delayed ``named`` ones.

    The i-th of ``values`` goes through registers ``{name}{i}_d{k}``, advanced together a stage at a time;
    a named value ``key`` through ``{name}_{key}_d{k}``, one whole line after another. The order the
    registers are made in is the order of the emitted Verilog, so each caller keeps its own.
    """
    out = [*values, *named.values()]
    labels = [*(f"{name}{i}" for i in range(len(values))), *(f"{name}_{key}" for key in named)]
    steps = [(k, i) for k in range(cycles) for i in range(len(values))]
    steps += [(k, i) for i in range(len(values), len(out)) for k in range(cycles)]
    for k, i in steps:
        out[i] = pipe.register(f"{labels[i]}_d{k + 1}", out[i])
    return out


class PipelinedUnit(wiring.Component):
    """A fixed-latency datapath behind an input and an output stream.

    Stream rules (``amaranth.lib.stream``): a transfer happens on
    ``valid & ready``; ``o.valid`` never depends on ``o.ready``. The pipeline
    advances when its last stage is empty or is being read
    (``advance = ~o.valid | o.ready``), and ``i.ready = advance``.

    Latency: ``latency`` cycles from an input transfer to the output being valid.
    Throughput: one result per cycle while ``o.ready`` is high.

    Subclasses define :attr:`latency` and :meth:`datapath`.
    """

    latency: int

    def __init__(self, in_shape, out_shape):
        super().__init__({"i": In(stream.Signature(in_shape)), "o": Out(stream.Signature(out_shape))})

    def datapath(self, m: Module, pipe: Pipeline, payload):
        """Build the datapath from the input ``payload``; return the (registered) result."""
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]
        pipe = Pipeline(m, advance)
        result = self.datapath(m, pipe, self.i.payload)
        valid = self.i.valid
        for stage in range(self.latency):
            valid = pipe.register(f"valid{stage + 1}", valid)
        m.d.comb += [self.o.valid.eq(valid), self.o.payload.eq(result)]
        return m


class UnaryUnit(PipelinedUnit):
    """A unit of one format computing ``o = f(i)`` with ``function(m, pipe, a, fmt, name)``."""

    function = None
    prefix = "unit"

    def __init__(self, fmt):
        self._fmt = fmt
        super().__init__(fmt.width, fmt.width)

    def datapath(self, m, pipe, payload):
        return type(self).function(m, pipe, payload, self._fmt, self.prefix)


class BinaryUnit(PipelinedUnit):
    """A unit of one format computing ``o = f(i.a, i.b)`` with ``function(m, pipe, a, b, fmt, name)``."""

    function = None
    prefix = "unit"

    def __init__(self, fmt):
        self._fmt = fmt
        super().__init__(data.StructLayout({"a": fmt.width, "b": fmt.width}), fmt.width)

    def datapath(self, m, pipe, payload):
        return type(self).function(m, pipe, payload.a, payload.b, self._fmt, self.prefix)
