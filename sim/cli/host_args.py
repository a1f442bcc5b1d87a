"""The options of ``pam schedule`` (run by ``sim.cli.host``)."""

from __future__ import annotations

from sim.inputs import integer, real, trace_file


def add_commands(root, command) -> None:
    """Add this group's commands to ``root`` (the subparsers of ``pam``); ``command(name, func, help[, parent])``
    makes one, run by ``func`` ("module:function" of ``sim.cli``)."""
    p = command("schedule", "host:cmd_schedule", "the host driver on a v2 trace: Eq. 7 importance, Algorithm 2, "
                "bank-group mapping, migration; per step tokens per tier, moves by route, device importance, "
                "bank-group balance, scheduler time")
    p.add_argument("--trace", required=True, type=trace_file, help="v2 trace (pam trace gen --locality or --control, or pam trace "
                   "capture)")
    p.add_argument("--steps", type=integer, help="steps to run (default: all)")
    p.add_argument("--source", default="oracle", help="score source: oracle, double_sparsity, h2o, quest; a "
                   "comma-separated list or 'all' runs each on the same trace, side by side (default %(default)s)")
    p.add_argument("--x", type=real, default=8.0, help="target IS_H/IS_S (default %(default)s)")
    p.add_argument("--y", type=real, default=3.0, help="target IS_D/IS_S (default %(default)s)")
    p.add_argument("--lam", type=real, default=0.6, help="Eq. 7 lambda (default %(default)s)")
    p.add_argument("--sparsity", type=real, default=0.02, help="fraction activated per step (default %(default)s)")
    p.add_argument("--max-moves", type=integer, default=64, help="swap bound per step (default %(default)s)")
    p.add_argument("--rows", type=integer, nargs=3, default=(8, 64, 32), metavar=("HBM", "DDR", "SSD"),
                   help="rows (SSD: pages) per bank (die) of each tier's device, scaled down (default %(default)s)")
