"""cocotb bench: play host commands into a system (or device) top, collect statuses, outputs and activity.

Environment: PAM_SYSTEM_JOB (JSON: ``commands``, packed command words as hex;
``outputs``, how many words to wait for on the output stream ``output``, "out"
or "part"; ``seed``, optional: random idle cycles between commands and random
ready on the output and status streams; ``reset_at``, optional: after that
many cycles, reset the top and play every command again), and PAM_RESULTS.

Every cycle the bench samples the top's ``pu_active`` and ``ru_active``
bits, so the runner can tell when the last PU finished, how long reduction
went on after it, and how much RU work overlapped PU work.
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
        n = len(self.dut.ru_active)
        # per ru_active bit (devices, then the inter-device RU); pu_active has one bit fewer
        self.activity = {key: [[None, None, 0] for _ in range(n)] for key in ("pu", "ru")}
        self.overlap = [0] * n          # cycles a device's RUs work while its PUs work (last: top RU, any PU)

    def _note(self, key, bits):
        for i, slot in enumerate(self.activity[key]):
            if bits >> i & 1:
                slot[0] = self.cycle if slot[0] is None else slot[0]
                slot[1] = self.cycle
                slot[2] += 1

    async def run(self):
        dut = self.dut
        top = len(dut.ru_active) - 1
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
                pu, ru = int(dut.pu_active.value), int(dut.ru_active.value)
                self._note("pu", pu)
                self._note("ru", ru)
                both = pu & ru | (int(pu != 0) << top & ru)
                for i in range(top + 1):
                    self.overlap[i] += both >> i & 1
                self.cycle += 1
            await RisingEdge(dut.clk)


async def _play(dut, commands, rnd):
    for word in commands:
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
    await _reset(dut)
    cocotb.start_soon(rec.run())
    if job.get("reset_at"):
        player = cocotb.start_soon(_play(dut, commands, None))
        await ClockCycles(dut.clk, int(job["reset_at"]))
        player.cancel()
        await _reset(dut)                 # memories keep their contents; every controller starts over
        rec.restart()
    t0 = time.perf_counter()
    await _play(dut, commands, rnd)
    limit = int(job.get("limit", 10_000_000))
    while len(rec.outputs) < job["outputs"] or len(rec.statuses) < len(commands):
        await RisingEdge(dut.clk)
        if rec.cycle > limit:
            raise AssertionError(f"after {rec.cycle} cycles: {len(rec.statuses)} of {len(commands)} statuses, "
                                 f"{len(rec.outputs)} of {job['outputs']} outputs")
    wall = time.perf_counter() - t0
    report = {"statuses": rec.statuses, "outputs": [hex(w) for _, w in rec.outputs],
              "output_cycles": [c for c, _ in rec.outputs], "accepted": rec.accepted,
              "activity": rec.activity, "overlap": rec.overlap, "cycles": rec.cycle, "wall_s": wall}
    with open(os.environ["PAM_RESULTS"], "w") as f:
        json.dump(report, f)
