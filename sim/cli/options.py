"""What several commands' parsers share: the choices they offer and the option groups they repeat.

The choices are named here, once, so that ``pam --help`` imports neither NumPy nor the models;
tests/sim/test_cli.py checks them against their definitions (golden.traces.format, golden.formats,
perf.node, sim.waves).
"""

from __future__ import annotations

from sim.inputs import integer, new_file, scheduler, tier_name_or_file

TRACE_DTYPES = ("bf16", "fp16")
UNIT_FORMATS = ("fp16", "bf16", "fp32")
DISTRIBUTIONS = ("gaussian", "heavy")
WAVE_FORMATS = ("vcd", "fst")
PRESETS = ("paper", "physical")


def add_gen_options(p, tokens=1024):
    p.add_argument("--tokens", type=integer, default=tokens, help="context length (default %(default)s)")
    p.add_argument("--steps", type=integer, default=1, help="decode-step queries (default %(default)s)")
    p.add_argument("--q-heads", type=integer, default=8, help="query heads (default %(default)s)")
    p.add_argument("--kv-heads", type=integer, default=2, help="KV heads (default %(default)s)")
    p.add_argument("--head-dim", type=integer, default=128, help="head dimension (default %(default)s)")
    p.add_argument("--dtype", choices=TRACE_DTYPES, default="fp16", help="number format (default %(default)s)")
    p.add_argument("--dist", choices=DISTRIBUTIONS, default="heavy", help="value distribution (default %(default)s)")
    p.add_argument("--seed", type=integer, default=0, help="random seed (default %(default)s)")


def add_unit_options(p):
    """The options that shape a unit, shared by ``verilog`` and ``area``."""
    p.add_argument("--format", choices=UNIT_FORMATS, help="number format (default: every one)")
    p.add_argument("--lanes", type=integer, default=16, help="lanes of fdot (default %(default)s)")
    p.add_argument("--tier", type=tier_name_or_file, help="tier config: hbm3, ddr4, ssd or a .toml (default: hbm3; bank: hbm3 and ddr4)")
    p.add_argument("--head-dim", type=integer, default=128, help="head_dim of pu, ru, normalize, device "
                   "(default %(default)s)")
    p.add_argument("--max-group", type=integer, default=8, help="largest GQA group of pu (default %(default)s)")
    p.add_argument("--rows", type=integer, default=1024, help="rows of the emitted bank (default %(default)s)")
    p.add_argument("--bank-groups", type=integer, default=2, help="bank groups of device (default %(default)s)")
    p.add_argument("--banks", type=integer, default=2, help="banks per group of device (default %(default)s)")


def add_wave_options(p, depth: int = 2):
    p.add_argument("--waves", nargs="?", const="vcd", choices=WAVE_FORMATS,
                   help="trace the run: vcd (default) or fst (compressed; GTKWave, Surfer)")
    p.add_argument("--wave-depth", type=integer, default=depth, help="levels of the design traced: its ports and "
                   "this many levels of submodules below them (default %(default)s; more makes files much larger)")
    p.add_argument("--wave-file", type=new_file, help="copy the waves here (default: left in the build folder); "
                   "implies --waves, in the format its suffix names")


def add_scaleout_options(p) -> None:
    p.add_argument("--scheduler", type=scheduler, metavar="ADDRESS", help="run the independent tasks on this Dask scheduler "
                   "(tcp://host:8786; default: $PAM_DASK_SCHEDULER, else a local cluster of --workers processes)")
    p.add_argument("--workers", type=integer, help="local cluster size (default: one per core; 1: run the tasks here, "
                   "one after another)")
