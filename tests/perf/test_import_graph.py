"""The system model stands without the RTL stack: ``pam eval``'s modules import neither Amaranth nor cocotb, and
of the gateware package only ``hw.tierconfig`` (``MemoryTier`` and the tier configs: the standard library only).

Checked in a fresh interpreter, so nothing another test imported counts: every module of ``perf``, the
``pam eval`` command's module, ``pam eval --help``, and one decode step of the node model on the shipped
calibration.
"""

import pkgutil
import subprocess
import sys

import perf

HEAVY = ("amaranth", "cocotb", "cocotb_tools", "hw", "sim.verilator", "sim.testbench", "sim.runs", "sim.calibrate")
LIGHT = ("hw", "hw.tierconfig")      # the tier definitions the whole stack shares

PROBE = """
import importlib, sys
for name in {modules!r}:
    importlib.import_module(name)
from sim.cli import main
try:
    main(["eval", "--help"])
except SystemExit:
    pass
from perf.node import default_node, load_models, step
result = step(default_node("paper"), load_models()["llama3_70b"], "PAM", 64, 2048.0)
assert result.fits and result.step_s > 0, result
heavy, light = {heavy!r}, {light!r}
print(sorted(m for m in sys.modules if (m in heavy or m.startswith(tuple(h + "." for h in heavy))) and m not in light))
"""


def perf_modules() -> list[str]:
    return sorted(f"perf.{m.name}" for m in pkgutil.iter_modules(perf.__path__))


def loaded_heavy_modules(modules: list[str]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(modules=modules, heavy=HEAVY, light=LIGHT)],
                         capture_output=True, text=True, check=True)
    return eval(out.stdout.strip().splitlines()[-1])


def test_pam_eval_imports_neither_amaranth_nor_cocotb():
    modules = perf_modules()
    assert {"perf.node", "perf.evaluate", "perf.serving", "perf.calibration", "perf.plots"} <= set(modules)
    assert loaded_heavy_modules([*modules, "sim.cli.evaluate"]) == []


def test_the_probe_sees_the_rtl_stack_when_it_is_imported():
    """The same probe, given a module that does pull in the RTL stack, names it: the check can fail."""
    loaded = loaded_heavy_modules(["sim.calibrate"])
    assert "amaranth" in loaded and "cocotb" in loaded and "sim.calibrate" in loaded
