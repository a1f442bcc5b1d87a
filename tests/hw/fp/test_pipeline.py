"""``delay_line``: the one helper that delays values beside a datapath (the PU's, the RU's and the
normalisation's index and valid lines)."""

from amaranth import Module, Signal
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from hw.fp.pipeline import Pipeline, delay_line


def test_delay_line_names_and_orders_its_registers():
    made = []

    class Recording(Pipeline):
        def register(self, name, value):
            made.append(name)
            return super().register(name, value)

    m = Module()
    a, b, c = Signal(), Signal(3), Signal(2)
    out = delay_line(Recording(m, 1), "x", 2, a, b, valid=c, t=a)
    assert [o.name for o in out] == ["x0_d2", "x1_d2", "x_valid_d2", "x_t_d2"]
    # unnamed values advance together a stage at a time, named ones line after line
    assert made == ["x0_d1", "x1_d1", "x0_d2", "x1_d2", "x_valid_d1", "x_valid_d2", "x_t_d1", "x_t_d2"]
    assert [len(o) for o in out] == [1, 3, 2, 1]
    assert delay_line(Recording(m, 1), "none", 0, a, t=b) == [a, b]
    Fragment.get(m, None)                  # elaborated: the module is used


def test_delay_line_delays_by_its_cycles():
    m = Module()
    advance, x = Signal(), Signal(8)
    (late,) = delay_line(Pipeline(m, advance), "v", 3, x)
    sim = Simulator(m)
    sim.add_clock(1e-6)
    seen = []

    async def bench(ctx):
        ctx.set(advance, 1)
        for i in range(1, 8):
            ctx.set(x, i)
            await ctx.tick()
            seen.append(ctx.get(late))
    sim.add_testbench(bench)
    sim.run()
    assert seen == [0, 0, 1, 2, 3, 4, 5]
