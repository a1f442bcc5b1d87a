"""W-lane dot product: W multipliers into the accumulator format and a pairwise adder tree.

This is step 1 of the PU's score (docs/numerics.md): the chunk sum
tree(round_acc(q_i·k_i)), lanes (0+1), (2+3), … then pairs of sums.
"""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import data

from golden.formats import FloatFormat

from .fadd import FADD_LATENCY, fadd_datapath
from .fmul import FMUL_LATENCY, fmul_datapath
from .pipeline import Pipeline, PipelinedUnit

__all__ = ["fdot_latency", "fdot_datapath", "check_dot_lanes", "FDot"]


def fdot_latency(lanes: int) -> int:
    return FMUL_LATENCY + (lanes.bit_length() - 1) * FADD_LATENCY


def check_dot_lanes(lanes: int) -> None:
    """Refuse a lane count the adder tree cannot pair (``FDot`` calls this before it exists)."""
    if lanes < 1 or lanes & (lanes - 1):
        raise ValueError(f"lanes must be a power of two >= 1, not {lanes!r}")


def fdot_datapath(m: Module, pipe: Pipeline, a, b, lanes: int, fmt: FloatFormat, acc: FloatFormat, name: str):
    """Σ a_i·b_i over ``lanes`` lanes in the golden tree order; a, b are sequences of ``fmt`` values."""
    terms = [fmul_datapath(m, pipe, a[i], b[i], fmt, acc, f"{name}_mul{i}") for i in range(lanes)]
    level = 0
    while len(terms) > 1:
        terms = [fadd_datapath(m, pipe, terms[j], terms[j + 1], acc, f"{name}_l{level}_add{j // 2}")
                 for j in range(0, len(terms), 2)]
        level += 1
    return terms[0]


class FDot(PipelinedUnit):
    """``o = tree_sum(round_acc(a_i · b_i))`` over W lanes.

    Parameters
    ----------
    fmt : FloatFormat
        Operand format (FP16/BF16).
    acc : FloatFormat
        Product and sum format (FP32, or ``fmt``).
    lanes : int
        W, a power of two.

    Latency ``2 + 3·log2(W)`` (FP16, W=16: 14), one result per cycle.
    """

    def __new__(cls, fmt: FloatFormat, acc: FloatFormat, lanes: int):
        check_dot_lanes(lanes)          # before the object exists: a rejected one is never an unused elaboratable
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, fmt: FloatFormat, acc: FloatFormat, lanes: int):
        self._fmt, self._acc, self._lanes = fmt, acc, lanes
        vec = data.ArrayLayout(fmt.width, lanes)
        super().__init__(data.StructLayout({"a": vec, "b": vec}), acc.width)

    @property
    def latency(self) -> int:
        return fdot_latency(self._lanes)

    def datapath(self, m, pipe, payload):
        return fdot_datapath(m, pipe, payload.a, payload.b, self._lanes, self._fmt, self._acc, "dot")
