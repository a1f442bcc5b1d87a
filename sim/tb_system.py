"""cocotb bench: play host commands into a system (or device) top, collect statuses, outputs and activity.

Environment: PAM_SYSTEM_JOB (JSON: ``commands``, packed command words as hex;
``outputs``, how many words to wait for on the output stream ``output``, "out"
or "part"; ``gates``, optional: [i, n] pairs, hold command i until n output
words have arrived (the next decode step needs the last one's output); ``seed``, optional: random idle cycles between commands and random
ready on the output and status streams; ``reset_at``, optional: after that
many cycles, reset the top and play every command again), and PAM_RESULTS.

Every cycle the bench samples the top's ``pu_active`` and ``ru_active``
bits and records each change, so the runner can tell, over any window, when
the last PU finished, how long reduction went on after it, and how much RU
work overlapped PU work.
"""

from __future__ import annotations

import json
import os
import random
import time

import cocotb
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge


class Recorder:
    """Per-cycle observations since the last (re)start."""

    def __init__(self, dut, output: str, rnd):
        self.dut, self.rnd = dut, rnd
        self.out_valid, self.out_ready = getattr(dut, f"{output}__valid"), getattr(dut, f"{output}__ready")
        self.out_payload = getattr(dut, f"{output}__payload")
        self.restart()

    def restart(self):
        self.cycle, self.statuses, self.outputs, self.accepted = 0, [], [], []
        self.changes = []               # (cycle, pu_active, ru_active) whenever either changes

    async def run(self):
        dut = self.dut
        while True:
            self.out_ready.value = int(self.rnd.random() < 0.6) if self.rnd else 1
            dut.status__ready.value = int(self.rnd.random() < 0.8) if self.rnd else 1
            await ReadOnly()
            if not int(dut.rst.value):
                if dut.status__valid.value and dut.status__ready.value:
                    self.statuses.append(int(dut.status__payload.value))
                if self.out_valid.value and self.out_ready.value:
                    self.outputs.append((self.cycle, int(self.out_payload.value)))
                if dut.cmd__valid.value and dut.cmd__ready.value:
                    self.accepted.append(self.cycle)
                bits = (int(dut.pu_active.value), int(dut.ru_active.value))
                if not self.changes or self.changes[-1][1:] != bits:
                    self.changes.append((self.cycle, *bits))
                self.cycle += 1
            await RisingEdge(dut.clk)


async def _play(dut, commands, rnd, rec, gates):
    for i, word in enumerate(commands):
        if i in gates:
            dut.cmd__valid.value = 0
            while len(rec.outputs) < gates[i]:
                await RisingEdge(dut.clk)
        while rnd is not None and rnd.random() < 0.2:
            dut.cmd__valid.value = 0
            await RisingEdge(dut.clk)
        dut.cmd__payload.value = word
        dut.cmd__valid.value = 1
        while True:
            await ReadOnly()
            taken = bool(dut.cmd__ready.value)
            await RisingEdge(dut.clk)
            if taken:
                break
    dut.cmd__valid.value = 0


async def _reset(dut, cycles=2):
    dut.rst.value = 1
    dut.cmd__valid.value = 0
    await ClockCycles(dut.clk, cycles)
    dut.rst.value = 0


@cocotb.test()
async def system_job(dut):
    with open(os.environ["PAM_SYSTEM_JOB"]) as f:
        job = json.load(f)
    commands = [int(word, 16) for word in job["commands"]]
    seed = job.get("seed")
    rnd = random.Random(seed) if seed is not None else None
    rec = Recorder(dut, job.get("output", "out"), rnd)
    gates = {int(i): int(n) for i, n in job.get("gates", [])}
    await _reset(dut)
    cocotb.start_soon(rec.run())
    if job.get("reset_at"):
        player = cocotb.start_soon(_play(dut, commands, None, rec, gates))
        await ClockCycles(dut.clk, int(job["reset_at"]))
        player.cancel()
        await _reset(dut)                 # memories keep their contents; every controller starts over
        rec.restart()
    t0 = time.perf_counter()
    await _play(dut, commands, rnd, rec, gates)
    limit = int(job.get("limit", 10_000_000))
    while len(rec.outputs) < job["outputs"] or len(rec.statuses) < len(commands):
        await RisingEdge(dut.clk)
        if rec.cycle > limit:
            raise AssertionError(f"after {rec.cycle} cycles: {len(rec.statuses)} of {len(commands)} statuses, "
                                 f"{len(rec.outputs)} of {job['outputs']} outputs")
    wall = time.perf_counter() - t0
    report = {"statuses": rec.statuses, "outputs": [hex(w) for _, w in rec.outputs],
              "output_cycles": [c for c, _ in rec.outputs], "accepted": rec.accepted,
              "changes": rec.changes, "units": len(dut.ru_active), "cycles": rec.cycle, "wall_s": wall}
    with open(os.environ["PAM_RESULTS"], "w") as f:
        json.dump(report, f)
