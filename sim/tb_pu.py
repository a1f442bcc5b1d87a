"""cocotb bench: load a (request, kv head) into a bank, run its PU, return the partials and cycle counts.

Environment: PAM_PU_JOB (an .npz with q [G, d] pre-scaled, columns [N, W] in
the PU's order, tokens), PAM_RESULTS. The clock is in HDL: Python loads the
bank, sends G·C query vectors, starts, then waits for each of the G partials.
"""

from __future__ import annotations

import json
import os
import time

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge


def _word(lanes) -> int:
    return sum(int(x) << (16 * i) for i, x in enumerate(lanes))


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


@cocotb.test()
async def pu_on_bank(dut):
    job = np.load(os.environ["PAM_PU_JOB"])
    q, columns, tokens = job["q"], job["columns"], int(job["tokens"])
    group, head_dim = q.shape
    lanes = columns.shape[1] if len(columns) else int(job["lanes"])
    dut.rst.value = 1
    for sig in (dut.start, dut.wr_valid, dut.q__valid):
        sig.value = 0
    dut.part__ready.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    for addr, col in enumerate(columns):
        def load(addr=addr, col=col):
            dut.wr_addr.value = addr
            dut.wr_data.value = _word(col)
        await _send(dut, dut.wr_valid, dut.wr_ready, load)
    dut.tokens.value = tokens
    dut.group.value = group
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    for g in range(group):
        for c in range(head_dim // lanes):
            def vec(g=g, c=c):
                dut.q__payload.value = _word(q[g, c * lanes:(c + 1) * lanes])
            await _send(dut, dut.q__valid, dut.q__ready, vec)
    t0 = time.perf_counter()
    partials = []
    acc_bits = 32
    mask = (1 << acc_bits) - 1
    while len(partials) < group:             # part.ready is held high: one valid pulse per partial
        await RisingEdge(dut.part__valid)
        await ReadOnly()
        word = dut.part__payload.value.to_unsigned()
        o = [(word >> (2 * acc_bits + i * acc_bits)) & mask for i in range(head_dim)]
        partials.append({"m": word & mask, "l": (word >> acc_bits) & mask, "o": o})
    await RisingEdge(dut.done)
    wall = time.perf_counter() - t0
    names = ("cycles", "stream_cycles", "reads", "activates", "refreshes", "read_bus_cycles", "pu_busy_cycles")
    report = {n: int(getattr(dut, n).value) for n in names}
    report.update(partials=partials, wall_s=wall, sim_cycles_per_s=report["cycles"] / max(wall, 1e-9))
    with open(os.environ["PAM_RESULTS"], "w") as f:
        json.dump(report, f)
