"""A Verilog wrapper that makes the clock in HDL, so cocotb need not toggle it from Python.

With the clock inside the simulation (Verilator ``--timing``), Python only
wakes up on the events it awaits, which makes long runs 10x faster than a
cocotb ``Clock``. The wrapper exposes every port of the design except ``clk``.
"""

from __future__ import annotations

from amaranth import Value
from amaranth.lib import wiring

__all__ = ["TIMING_FLAGS", "TIMESCALE", "clocked_wrapper"]

# Verilator needs --timing for the delay in the wrapper, and its coroutine
# runtime needs C++20. The delay is in ns: every module gets this timescale.
TIMING_FLAGS = ["--timing", "-CFLAGS", "-std=c++20"]
TIMESCALE = ("1ns", "1ps")


def _ports(component: wiring.Component):
    for path, member, value in component.signature.flatten(component):
        yield "__".join(str(p) for p in path), len(Value.cast(value)), member.flow == wiring.In


def clocked_wrapper(component: wiring.Component, dut: str, period_ns: int = 2) -> tuple[str, str]:
    """Verilog text and module name of ``<dut>_clocked``: ``dut`` plus a free-running clock."""
    if period_ns < 2 or period_ns % 2:
        raise ValueError(f"period_ns must be an even number >= 2, not {period_ns}")
    top = f"{dut}_clocked"
    ports = [("rst", 1, True), *_ports(component)]
    decls = "\n".join(f"  {'input' if inp else 'output'} wire [{w - 1}:0] {name};" for name, w, inp in ports)
    conns = ",\n".join(f"    .{name}({name})" for name, _, _ in [("clk", 1, True), *ports])
    text = f"""module {top}({", ".join(name for name, _, _ in ports)}, clk);
{decls}
  output reg clk = 1'b0;
  always #{period_ns // 2} clk = ~clk;
  {dut} dut (
{conns}
  );
endmodule
"""
    return text, top
