"""The FP testbench: every floating-point unit of one format under Verilator, bit for bit against golden.

The units run behind one stream (``sim.testbench.fp_unit.FPStream``) in the job harness, as a
:class:`~sim.testbench.base.Testbench`: the scoreboard compares each output word, every unit's ``lanes``
results, with the golden operations as it leaves the design, so a mismatch is named by its cycle, unit,
lane and operands. Operands: ``sim.testbench.fp_check.stimulus``.
"""

from __future__ import annotations

import functools

import numpy as np

from golden.formats import FloatFormat
from hw.fp.units import UNIT_SPECS
from sim.testbench.fp_unit import FP_PORTS, FPStream, harness_units
from sim.testbench.harness import Pauses
from sim.testbench.base import Testbench
from sim.testbench.fp_check import FPMismatch, check_unit, stimulus
from sim.verilator.build import build_design

__all__ = ["fp_build", "run_fp_units"]


def fp_build(fmt: FloatFormat, lanes: int):
    """The Verilator build of ``FPStream(fmt, lanes)`` under the job harness (cached)."""
    return build_design(functools.partial(FPStream, fmt, lanes), f"fp_stream_{fmt.name}_x{lanes}",
                        key=f"{fmt.name}|{lanes}", harness=FP_PORTS)


def _words(columns: list[np.ndarray]) -> list[int]:
    """One integer per row of the concatenated little-endian bytes of ``columns`` ([rows, lanes] each)."""
    raw = np.concatenate([c.view(np.uint8).reshape(len(c), -1) for c in columns], axis=1)
    return [int.from_bytes(row.tobytes(), "little") for row in raw]


def _lanes(word: int, fmt: FloatFormat, lanes: int) -> dict[str, list[int]]:
    out, offset = {}, 0
    for u in harness_units(fmt):
        width = UNIT_SPECS[u].out_fmt(fmt).width
        out[u] = [(word >> (offset + k * width)) & ((1 << width) - 1) for k in range(lanes)]
        offset += lanes * width
    return out


def _describe(fmt: FloatFormat, lanes: int, a: np.ndarray, b: np.ndarray, index: int, got: int, expected: int):
    """The first unit and lane of command ``index`` whose result differs, in ``check_unit``'s words."""
    got_l, want_l = _lanes(got, fmt, lanes), _lanes(expected, fmt, lanes)
    for u in harness_units(fmt):
        bad = [k for k in range(lanes) if got_l[u][k] != want_l[u][k]]
        if bad:
            k = bad[0]
            try:
                check_unit(UNIT_SPECS[u], fmt, a[index, k:k + 1], b[index, k:k + 1], [got_l[u][k]])
            except FPMismatch as exc:
                return f"lane {k} of {len(bad)}: {exc}"
            return f"{u} lane {k}: 0x{got_l[u][k]:x} against a scoreboard word 0x{want_l[u][k]:x}"
    return "no unit differs"


def run_fp_units(fmt: FloatFormat, lanes: int, random_pairs: int, seed: int, pauses: Pauses = Pauses(),
                 raw: bool = False) -> dict:
    """Play ``stimulus(fmt, random_pairs, seed)`` through every unit of ``fmt``; returns the figures and the
    scoreboard's verdict (``mismatch``: None when every result matched)."""
    a, b = stimulus(fmt, random_pairs, seed)
    pad = -len(a) % lanes
    a = np.pad(a, (0, pad)).reshape(-1, lanes).astype(np.uint32)
    b = np.pad(b, (0, pad)).reshape(-1, lanes).astype(np.uint32)
    results = []
    for u in harness_units(fmt):
        spec = UNIT_SPECS[u]
        mask = (1 << spec.in_fmt(fmt).width) - 1
        width = spec.out_fmt(fmt).width
        want = spec.golden(fmt, a.ravel().astype(np.int64) & mask, b.ravel().astype(np.int64) & mask)
        results.append(np.asarray(want).reshape(a.shape).astype(f"<u{width // 8}"))
    build = fp_build(fmt, lanes)
    testbench = Testbench(build, functools.partial(_describe, fmt, lanes, a, b))
    words, expected = _words([a, b]), _words(results)
    played = testbench.play(words, outputs=len(words), expected=expected, pauses=pauses,
                        seed=seed if pauses.active else None, raw=raw, tag=f"fp_{fmt.name}")
    log = played.log
    if played.matched and (log.timed_out or len(log.outputs) != len(words)):
        raise AssertionError(f"FP testbench: {len(log.outputs)} of {len(words)} results after {log.cycles} cycles")
    return {"format": fmt.name, "lanes": lanes, "seed": seed, "cycles": log.cycles, "wall_s": played.wall_s,
            "commands": len(words), "checked": played.matched_outputs * lanes - (pad if played.matched else 0),
            "units": harness_units(fmt), "mismatch": played.mismatch, "built_s": build.built_s}
