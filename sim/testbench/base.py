"""The testbench base: one design under the job harness, driven, monitored and scoreboarded.

Every cocotb testbench of the project (FP units, lone bank, PU on its bank, device and system tops) is a
:class:`Testbench`. Its parts run in HDL, in the job harness around the design (``sim.testbench.harness``), so a
testbench costs no Python per simulated cycle and plays as fast under cocotb as under the plain C++ main:

- clock and reset, and a mid-run reset on request;
- the command driver: valid-until-ready, each command gated on the outputs it needs;
- the pause generators: idle cycles before commands, back-pressure on the output and status streams, from
  seeded xorshift streams with the probabilities of a :class:`Pauses`;
- the monitors: every output and status word, the monitored ports' changes, the counters at the end;
- the in-order scoreboard: each output word is compared with the golden word as it leaves the design; the
  first mismatch ends the run at its cycle, and :meth:`Testbench.play` reports it by cycle and index.

``PAUSE_MATRIX`` is the idle × back-pressure matrix every testbench's tests run.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Callable, Sequence

from sim.testbench.harness import JobLog, Mismatch, Pauses, write_job
from sim.verilator.build import SimBuild, run_job

__all__ = ["Pauses", "PAUSE_MATRIX", "RANDOM_PAUSES", "Testbench", "Played"]

IDLE_P, STALL_P, STATUS_STALL_P = 0.2, 0.4, 0.2

# idle (a command waits a cycle with p 0.2) × back-pressure (output ready low with p 0.4, status with p 0.2)
PAUSE_MATRIX = {f"idle {'on' if idle else 'off'}, back-pressure {'on' if stall else 'off'}":
                Pauses(IDLE_P * idle, STALL_P * stall, STATUS_STALL_P * stall)
                for idle, stall in itertools.product((0, 1), repeat=2)}
RANDOM_PAUSES = Pauses(IDLE_P, STALL_P, STATUS_STALL_P)


@dataclasses.dataclass
class Played:
    """One run: the harness log, the simulation's wall time, and the scoreboard's verdict."""
    log: JobLog
    wall_s: float
    mismatch: str | None          # the first mismatch, named by its cycle and output index; None: all matched

    @property
    def matched(self) -> bool:
        return self.mismatch is None

    @property
    def matched_outputs(self) -> int:
        """Output words the scoreboard passed before its first mismatch (all of them without one)."""
        return len(self.log.outputs) if self.log.mismatch is None else self.log.mismatch.index


class Testbench:
    """A design's Verilator build under the job harness (``sim.verilator.build.build_design``), as a testbench.

    ``describe(index, got, expected)`` turns a mismatching pair of output words into words a reader can act
    on (which head, which lane, which operands); without it the bits that differ are shown.
    """

    def __init__(self, build: SimBuild, describe: Callable[[int, int, int], str] | None = None):
        self.build = build
        self._describe = describe

    def play(self, words: Sequence[int], gates: Sequence[int] | None = None, outputs: int = 0,
             expected: Sequence[int] | None = None, pauses: Pauses = Pauses(), seed: int | None = None,
             resets: Sequence[int] = (), limit: int = 10_000_000, raw: bool = False, tag: str = "job",
             checkpoints: Sequence[int] = ()) -> Played:
        """Play ``words`` (gated by ``gates``, default none) until ``outputs`` output words have left, with
        ``pauses`` drawn from ``seed``; the scoreboard checks the first ``len(expected)`` outputs in order.
        ``resets``: the cycle of each pass at which the design is reset, play resuming at the last of the
        ``checkpoints`` it can (``sim.testbench.harness``). ``raw`` plays under the plain C++ main instead of cocotb."""
        if pauses.active and seed is None:
            raise ValueError(f"seed: pauses {pauses} need a seed")
        gates = [0] * len(words) if gates is None else list(gates)
        tag = f"{tag}-{os.getpid()}"
        job = self.build.build_dir / f"{tag}.txt"
        write_job(job, list(words), gates, outputs, seed, resets, limit, pauses, expected, checkpoints)
        log, wall = run_job(self.build, job, tag, raw=raw)
        return Played(log, wall, None if log.mismatch is None else self._name(log.mismatch))

    def _name(self, m: Mismatch) -> str:
        where = f"{self.build.top}: output {m.index} at cycle {m.cycle}"
        if self._describe is not None:
            return f"{where}: {self._describe(m.index, m.got, m.expected)}"
        diff = m.got ^ m.expected
        bits = [i for i in range(diff.bit_length()) if diff >> i & 1]
        shown = ", ".join(map(str, bits[:8])) + (f", … ({len(bits)} bits)" if len(bits) > 8 else "")
        return f"{where}: got 0x{m.got:x}, expected 0x{m.expected:x} (bits {shown} differ)"
