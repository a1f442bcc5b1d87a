"""cocotb bench: load a (request, kv head) into a bank, run its PU, return the partials and cycle counts.

Environment: PAM_PU_JOB (an .npz with q [G, d] pre-scaled, columns [N, W] in
the PU's order, tokens), PAM_RESULTS, and optionally PAM_PU_SEED and
PAM_PU_RESET_AT (see ``pu_on_bank``). The clock is in HDL: Python loads the
bank, starts, sends G·C query vectors, then waits for each of the G partials.
"""

from __future__ import annotations

import json
import os
import random
import time

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from sim.pu_stream import lanes_word


async def _send(dut, valid, ready, assign):
    """Hold valid and payload until a settled ready, then transfer at the next edge."""
    assign()
    valid.value = 1
    while True:
        await ReadOnly()
        accepted = bool(ready.value)
        await RisingEdge(dut.clk)
        if accepted:
            break
    valid.value = 0


async def _reset(dut, cycles=2):
    dut.rst.value = 1
    for sig in (dut.start, dut.wr_valid, dut.q__valid):
        sig.value = 0
    await ClockCycles(dut.clk, cycles)
    dut.rst.value = 0


async def _start(dut, q, tokens, lanes, rnd):
    """Pulse start, then send the G·C query vectors (with random idle cycles when ``rnd`` is given)."""
    group, head_dim = q.shape
    dut.tokens.value = tokens
    dut.group.value = group
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    for g in range(group):
        for c in range(head_dim // lanes):
            while rnd is not None and rnd.random() < 0.3:
                await RisingEdge(dut.clk)
            def vec(g=g, c=c):
                dut.q__payload.value = lanes_word(q[g, c * lanes:(c + 1) * lanes])
            await _send(dut, dut.q__valid, dut.q__ready, vec)


def _partial(word: int, head_dim: int, acc_bits: int = 32) -> dict:
    mask = (1 << acc_bits) - 1
    o = [(word >> (2 * acc_bits + i * acc_bits)) & mask for i in range(head_dim)]
    return {"m": word & mask, "l": (word >> acc_bits) & mask, "o": o}


async def _collect(dut, group, head_dim, rnd):
    """The G partials. Without ``rnd`` part.ready stays high and Python wakes once per partial; with it,
    ready is random every cycle (back-pressure) and Python samples each cycle."""
    partials = []
    if rnd is None:
        dut.part__ready.value = 1
        while len(partials) < group:
            await RisingEdge(dut.part__valid)
            await ReadOnly()
            partials.append(_partial(dut.part__payload.value.to_unsigned(), head_dim))
        return partials
    while len(partials) < group:
        dut.part__ready.value = int(rnd.random() < 0.5)
        await ReadOnly()
        if dut.part__valid.value and dut.part__ready.value:
            partials.append(_partial(dut.part__payload.value.to_unsigned(), head_dim))
        await RisingEdge(dut.clk)
    dut.part__ready.value = 0
    return partials


@cocotb.test()
async def pu_on_bank(dut):
    """Optional: PAM_PU_SEED (random query idle cycles and partial back-pressure), PAM_PU_RESET_AT
    (reset after that many cycles of a first run, then run again from the start)."""
    job = np.load(os.environ["PAM_PU_JOB"])
    q, columns, tokens = job["q"], job["columns"], int(job["tokens"])
    group, head_dim = q.shape
    lanes = columns.shape[1] if len(columns) else int(job["lanes"])
    seed = os.environ.get("PAM_PU_SEED")
    rnd = random.Random(int(seed)) if seed else None
    dut.part__ready.value = 1
    await _reset(dut)
    for addr, col in enumerate(columns):
        def load(addr=addr, col=col):
            dut.wr_addr.value = addr
            dut.wr_data.value = lanes_word(col)
        await _send(dut, dut.wr_valid, dut.wr_ready, load)
    reset_at = int(os.environ.get("PAM_PU_RESET_AT", "0"))
    if reset_at:
        await _start(dut, q, tokens, lanes, None)
        await ClockCycles(dut.clk, reset_at)
        await _reset(dut)                  # the bank keeps its contents; every controller starts over
    await _start(dut, q, tokens, lanes, rnd)
    t0 = time.perf_counter()
    partials = await _collect(dut, group, head_dim, rnd)
    if not dut.done.value:
        await RisingEdge(dut.done)
    wall = time.perf_counter() - t0
    names = ("cycles", "stream_cycles", "reads", "activates", "refreshes", "read_bus_cycles", "pu_busy_cycles")
    report = {n: int(getattr(dut, n).value) for n in names}
    report.update(partials=partials, wall_s=wall, sim_cycles_per_s=report["cycles"] / max(wall, 1e-9))
    with open(os.environ["PAM_RESULTS"], "w") as f:
        json.dump(report, f)
