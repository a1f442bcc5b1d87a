"""The options of ``pam demo`` (run by ``sim.cli.demo``)."""

from __future__ import annotations

from sim.cli.options import WAVE_FORMATS
from sim.inputs import integer, new_folder


def add_commands(root, command) -> None:
    """Add this group's commands to ``root`` (the subparsers of ``pam``); ``command(name, func, help[, parent])``
    makes one, run by ``func`` ("module:function" of ``sim.cli``)."""
    p = command("demo", "demo:cmd_demo", "the main job end to end on an embedded default")
    p.add_argument("--out", "-o", type=new_folder, help="output folder (default: the build directory's demo/)")
    p.add_argument("--tokens", type=integer, default=1024, help="prompt tokens (default %(default)s; tokens + steps "
                   "at most 1280)")
    p.add_argument("--steps", type=integer, default=4, help="decode steps (default %(default)s)")
    p.add_argument("--seed", type=integer, default=2026, help="random seed (default %(default)s)")
    p.add_argument("--waves", choices=WAVE_FORMATS, default="vcd", help="wave format (default %(default)s; "
                   "fst is compressed and needs lz4 and zlib: pam doctor)")
