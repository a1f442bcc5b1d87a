"""cocotb bench: load a bank through its write path, stream reads in HDL, check and time them.

Environment: PAM_BANK_LOAD (columns loaded), PAM_BANK_CAPACITY (columns in the
bank), PAM_BANK_READS, PAM_BANK_SEED,
PAM_RESULTS. The clock comes from the HDL wrapper: during the streaming phase
Python only waits for ``done``.
"""

from __future__ import annotations

import json
import os
import time
from functools import reduce

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge


@cocotb.test()
async def bank_stream(dut):
    load = int(os.environ["PAM_BANK_LOAD"])
    capacity = int(os.environ["PAM_BANK_CAPACITY"])
    reads = int(os.environ["PAM_BANK_READS"])
    seed = int(os.environ["PAM_BANK_SEED"])
    width = len(dut.wr_data)
    dut._log.info(f"load {load} columns, stream {reads} reads, seed {seed}")
    rng = np.random.default_rng(seed)
    words = [int.from_bytes(rng.bytes(width // 8), "little") for _ in range(load)]
    dut.rst.value = 1
    dut.start.value = 0
    dut.wr_valid.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    t_load = time.perf_counter()
    for addr, word in enumerate(words):
        dut.wr_valid.value = 1
        dut.wr_addr.value = addr
        dut.wr_data.value = word
        while True:                      # the transfer happens at the edge after a settled ready
            await ReadOnly()
            accepted = bool(dut.wr_ready.value)
            await RisingEdge(dut.clk)
            if accepted:
                break
    dut.wr_valid.value = 0
    load_s = time.perf_counter() - t_load
    await ClockCycles(dut.clk, 2)
    dut.first.value = 0
    dut.count.value = reads
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    t0 = time.perf_counter()
    await RisingEdge(dut.done)
    wall = time.perf_counter() - t0
    # Addresses wrap at the bank's capacity; columns never loaded read as zero.
    expected = reduce(lambda a, b: a ^ b, (words[i % capacity] for i in range(reads) if i % capacity < load), 0)
    report = {
        "reads": reads, "cycles": int(dut.cycles.value), "beats": int(dut.beats.value),
        "activates": int(dut.activates.value), "refreshes": int(dut.refreshes.value),
        "read_bus_cycles": int(dut.read_bus_cycles.value), "wall_s": wall, "load_s": load_s,
        "checksum_ok": int(dut.checksum.value) == expected,
    }
    report["sim_cycles_per_s"] = report["cycles"] / wall
    with open(os.environ["PAM_RESULTS"], "w") as f:
        json.dump(report, f)
    assert report["checksum_ok"], "read data differ from the data loaded"
    assert report["beats"] == reads
