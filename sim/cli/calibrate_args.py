"""The options of ``pam calibrate`` and ``pam sweep`` (run by ``sim.cli.calibrate``)."""

from __future__ import annotations

from sim.cli.common import positive_ints
from sim.cli.options import add_scaleout_options, TRACE_DTYPES, PRESETS
from sim.inputs import integer, json_file, new_file, new_folder


def add_commands(root, command) -> None:
    """Add this group's commands to ``root`` (the subparsers of ``pam``); ``command(name, func, help[, parent])``
    makes one, run by ``func`` ("module:function" of ``sim.cli``)."""
    p = command("calibrate", "calibrate:cmd_calibrate", "measure the RTL's cycles per token (PU on its bank or flash die, "
                "per tier and GQA group) and per merged partial (RU); write the system model's calibration file")
    p.add_argument("--tiers", default="hbm3,ddr4,ssd", help="comma-separated tiers (default %(default)s)")
    p.add_argument("--groups", type=positive_ints, default=[1, 5, 8],
                   help="comma-separated GQA group sizes (default 1,5,8: OPT-175B, Qwen2.5-32B, LLaMA3-70B)")
    p.add_argument("--head-dim", type=integer, default=128, help="head_dim (default %(default)s)")
    p.add_argument("--dtype", default="fp16", choices=TRACE_DTYPES, help="format (default %(default)s)")
    p.add_argument("--seed", type=integer, default=1, help="trace seed (default %(default)s)")
    p.add_argument("--out", "-o", type=new_file, help="output file (default: the build directory's calibration.json; the "
                   "shipped perf/configs/calibration.json stays read-only)")
    p.add_argument("--merge-with", type=json_file, help="calibration whose entries fill the tiers and groups not run "
                   "(default: the shipped one)")
    add_scaleout_options(p)

    p = command("sweep", "calibrate:cmd_sweep", "design-space exploration: the tiers' PU clock, lanes, buffer and FIFO "
                "over a grid, each point calibrated on the RTL (cached by configuration) and evaluated; a CSV/JSON "
                "table and a Pareto plot of throughput against area and energy")
    p.add_argument("--set", action="append", required=True, metavar="TIER.FIELD=v1,v2,...",
                   help="an axis: TIER in hbm3, ddr4, ssd; FIELD in pu_mhz, lanes (with the column width), buffer_bytes, "
                        "kv_fifo_columns, columns_per_row "
                        "(repeatable; the points are their product)")
    p.add_argument("--models", default="opt_175b", help="comma-separated models of perf/configs/models.toml "
                   "(default %(default)s)")
    p.add_argument("--preset", default="paper", choices=PRESETS, help="preset (default %(default)s)")
    p.add_argument("--metric", default="offline", choices=["online", "offline"], help="the throughput the Pareto "
                   "plot weighs: online peak under the 150 ms SLO or offline (default %(default)s: decode-heavy "
                   "batches, where the PIM tiers set the pace)")
    p.add_argument("--out", "-o", required=True, type=new_folder, help="folder for sweep.csv, sweep.json and pareto.png")
    add_scaleout_options(p)
