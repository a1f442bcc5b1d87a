"""The options of ``pam sim bank|pu|device`` and ``pam waves`` (run by ``sim.cli.simulate``)."""

from __future__ import annotations

from sim.cli.options import add_wave_options
from sim.inputs import integer, new_file, tier_name_or_file, trace_file, wave_file


def add_commands(root, command) -> None:
    """Add this group's commands to ``root`` (the subparsers of ``pam``); ``command(name, func, help[, parent])``
    makes one, run by ``func`` ("module:function" of ``sim.cli``)."""
    simp = root.add_parser("sim", help="run a cocotb + Verilator simulation", description="simulations")
    sim_sub = simp.add_subparsers(dest="sim_command", required=True, metavar="WHAT")
    p = command("bank", "simulate:cmd_sim_bank", "load a DRAM bank and stream reads through its timing model", sim_sub)
    p.add_argument("--tier", default="hbm3", type=tier_name_or_file, help="tier config: hbm3, ddr4 or a .toml (default %(default)s)")
    p.add_argument("--rows", type=integer, default=64, help="rows in the simulated bank (default %(default)s)")
    p.add_argument("--reads", type=integer, default=20000, help="columns to read (default %(default)s)")
    p.add_argument("--load", type=integer, default=1024, help="columns to load first (default %(default)s)")
    p.add_argument("--seed", type=integer, default=1, help="random seed of the loaded data (default %(default)s)")
    add_wave_options(p)

    p = command("device", "simulate:cmd_sim_device", "run one decode step of a trace on the system top (HBM, DDR and SSD "
                "devices, inter-device RU); check it bit for bit against golden", sim_sub)
    p.add_argument("--trace", required=True, type=trace_file, help="trace .npz (v1 or v2)")
    p.add_argument("--kv-head", type=integer, default=0, help="kv head (default %(default)s)")
    p.add_argument("--step", type=integer, help="decode step (default 0)")
    p.add_argument("--tokens", type=integer, help="use only the first N tokens of the context")
    p.add_argument("--seed", type=integer, help="random back-pressure and idle command cycles with this seed")
    add_wave_options(p)

    p = command("pu", "simulate:cmd_sim_pu", "run a PU fed by a bank on one kv head of a trace; check it against golden",
                sim_sub)
    p.add_argument("--trace", required=True, type=trace_file, help="trace .npz (v1 or v2)")
    p.add_argument("--tier", default="hbm3", type=tier_name_or_file, help="tier config: hbm3, ddr4 or a .toml (default %(default)s)")
    p.add_argument("--kv-head", type=integer, default=0, help="kv head (default %(default)s)")
    p.add_argument("--step", type=integer, help="decode step (default 0)")
    p.add_argument("--tokens", type=integer, help="use only the first N tokens of the context")
    add_wave_options(p)

    p = command("waves", "simulate:cmd_waves", "print signals of a VCD or FST cycle by cycle, or draw them (--png)")
    p.add_argument("file", type=wave_file, help="VCD or FST file (Verilator or Amaranth)")
    p.add_argument("--signals", help="comma-separated glob patterns on dotted names (default: top-level ports)")
    p.add_argument("--from", dest="first", type=integer, default=0, help="first cycle (default %(default)s)")
    p.add_argument("--to", dest="last", type=integer, help="last cycle (default: the end)")
    p.add_argument("--clock", default="clk", help="clock signal name (default %(default)s)")
    p.add_argument("--signed", help="patterns of signals to show as two's complement")
    p.add_argument("--png", type=new_file, help="also draw the signals into this PNG")
    p.add_argument("--gtkw", type=new_file, help="also write a GTKWave save file that opens these signals")
    p.add_argument("--all", action="store_true", help="print every row of the window (default: a screenful "
                   "from just before the first change)")
    p.add_argument("--radix", default="auto", help="auto, bin, hex or dec, or pattern=radix pairs "
                   "('*active=bin,*=hex'); auto: decimal up to 16 bits, hex above (default %(default)s)")
