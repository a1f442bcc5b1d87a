"""The options of ``pam eval`` (run by ``sim.cli.evaluate``)."""

from __future__ import annotations

from sim.cli.options import add_scaleout_options
from sim.inputs import integer, json_file, new_folder


def add_commands(root, command) -> None:
    """Add this group's commands to ``root`` (the subparsers of ``pam``); ``command(name, func, help[, parent])``
    makes one, run by ``func`` ("module:function" of ``sim.cli``)."""
    p = command("eval", "evaluate:cmd_eval", "the paper's evaluation on the system model: online peak throughput under "
                "SLOs, offline throughput, energy per token, ablations and scaling, next to the paper's figures")
    p.add_argument("--models", help="comma-separated models of perf/configs/models.toml (default: all)")
    p.add_argument("--seed", type=integer, default=1, help="workload sampling seed (default %(default)s)")
    p.add_argument("--window-requests", type=integer, help="requests measured per online run (default "
                   "serving.window_requests of perf/configs/system.toml, 1000; each peak is searched again with twice "
                   "as many for its convergence figure); fewer for a quick look")
    p.add_argument("--out", "-o", type=new_folder, help="write the PNG figures into this folder")
    p.add_argument("--calibration", type=json_file, help="calibration file (default: the shipped perf/configs/calibration.json; "
                   "the file used is printed)")
    p.add_argument("--preset", default="paper,physical", help="comma-separated presets of perf/configs/presets/: "
                   "paper (vLLM keeps the KV in host DDR, as the paper's figures imply), physical (vLLM keeps it in "
                   "HBM and offloads the overflow); default both, side by side")
    p.add_argument("--sweep", action="append", metavar="NAME=v1,v2,...", help="sensitivity: rerun the headline "
                   "ratios with a figure of perf/configs/system.toml (section.key, or links.hbm_ddr) at each value; "
                   "repeatable; 'default' sweeps every assumed figure over a plausible range; -o adds a tornado chart")
    add_scaleout_options(p)
