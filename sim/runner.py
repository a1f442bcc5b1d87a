"""Build Amaranth designs for Verilator and run cocotb benches on them, from plain Python.

Each design configuration gets its own build directory, named by a hash of
its Verilog, under ``build/sim/``: a configuration that has been built before
is not rebuilt (Verilator builds are slow on 2 cores).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from cocotb_tools.check_results import get_results
from cocotb_tools.runner import get_runner

from hw.verilog import emit_verilog, waiver_flags
from sim.hdlclock import TIMESCALE, TIMING_FLAGS, clocked_wrapper
from sim.toolchain import setup_environment

__all__ = ["BUILD_ROOT", "SimBuild", "build_design", "run_bench"]

BUILD_ROOT = Path(os.environ.get("PAM_BUILD_DIR", "build")) / "sim"


class SimBuild:
    """A built simulator: its top module name and build directory."""

    def __init__(self, top: str, build_dir: Path, built_s: float):
        self.top, self.build_dir, self.built_s = top, build_dir, built_s


def _trace_only(verilog: str, depth: int) -> str:
    """``verilog`` with Verilator's ``tracing_off`` in every module more than ``depth`` levels down
    (Amaranth names a submodule by its path: ``top.dev0.bg0_ru``). cocotb's Verilator main traces 99
    levels whatever ``--trace-depth`` says, so the pragma is what keeps a big top's VCD small."""
    out = []
    for line in verilog.splitlines(keepends=True):
        out.append(line)
        if line.startswith("module ") and line.split()[1].split("(")[0].lstrip("\\").count(".") >= depth:
            out.append("  /*verilator tracing_off*/\n")
    return "".join(out)


def build_design(component, top: str, waves: bool = False, clock_ns: int | None = None,
                 quick_compile: bool = False, wave_depth: int = 0) -> SimBuild:
    """Emit ``component`` as Verilog module ``top`` and build it with Verilator (cached).

    With ``clock_ns``, the simulated top is ``<top>_clocked``, which makes its own
    clock of that period (``sim/hdlclock.py``); otherwise the bench drives ``clk``.
    ``quick_compile`` compiles the C++ without optimisation: for large designs
    whose runs are short, where the compiler's time dominates. ``wave_depth``
    limits the traced hierarchy to the top and ``wave_depth - 1`` levels of its
    submodules (0: all of it).
    """
    setup_environment()
    texts = {top: emit_verilog(component, top)}
    if waves and wave_depth:
        texts[top] = _trace_only(texts[top], wave_depth)
    hdl_top = top
    if clock_ns is not None:
        wrapper, hdl_top = clocked_wrapper(component, top, clock_ns)
        texts[hdl_top] = wrapper
    digest = hashlib.sha256((repr(sorted(texts.items())) + str(waves) + ("-O0" if quick_compile else ""))
                            .encode()).hexdigest()[:12]
    build_dir = (BUILD_ROOT / f"{hdl_top}-{digest}").resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    sources = []
    for name, text in texts.items():
        source = build_dir / f"{name}.v"
        if not source.exists() or source.read_text() != text:
            source.write_text(text)
        sources.append(source)
    t0 = time.perf_counter()
    runner = get_runner("verilator")
    flags = [*waiver_flags(), "-O2", "--x-assign", "fast", "--x-initial", "fast"]
    if clock_ns is not None:
        flags += TIMING_FLAGS
    if waves:
        flags += ["--trace", "--trace-structs"]
    # The PyPI wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so the
    # precompiled header would be passed to the compiler as an input file; a
    # command-line variable (through MAKEFLAGS) restores gcc's "-include".
    saved = os.environ.get("MAKEFLAGS")
    opt = "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0" if quick_compile else ""
    os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved, "CFG_CXXFLAGS_PCH_I=-include", opt]))
    try:
        runner.build(sources=sources, hdl_toplevel=hdl_top, build_dir=build_dir, build_args=flags,
                     waves=waves, timescale=TIMESCALE if clock_ns is not None else None,
                     log_file=build_dir / "build.log")
    finally:
        if saved is None:
            os.environ.pop("MAKEFLAGS")
        else:
            os.environ["MAKEFLAGS"] = saved
    return SimBuild(hdl_top, build_dir, time.perf_counter() - t0)


def run_bench(build: SimBuild, test_module: str, env: dict, results_name: str = "results",
              waves: bool = False) -> dict:
    """Run the cocotb ``test_module`` on ``build``; return the JSON its tests wrote.

    The bench receives ``PAM_RESULTS`` (a path for its JSON) plus ``env``.
    Raises AssertionError with the bench's own message when a test fails.
    """
    results_json = build.build_dir / f"{results_name}.json"
    results_json.unlink(missing_ok=True)
    runner = get_runner("verilator")
    xml = runner.test(hdl_toplevel=build.top, hdl_toplevel_lang="verilog", test_module=test_module,
                      build_dir=build.build_dir,
                      test_dir=build.build_dir, results_xml=str(build.build_dir / f"{results_name}.xml"),
                      extra_env={k: str(v) for k, v in {**env, "PAM_RESULTS": results_json}.items()},
                      waves=waves, log_file=build.build_dir / f"{results_name}.log")
    tests, failed = get_results(Path(xml))
    data = json.loads(results_json.read_text()) if results_json.exists() else {}
    if tests == 0 or failed:
        detail = data.get("error") or (build.build_dir / f"{results_name}.log").read_text()[-3000:]
        raise AssertionError(f"cocotb bench {test_module} on {build.top}: {failed} of {tests} tests failed: {detail}")
    return data
