"""The cocotb test for a design under the job harness (``sim/testbench/harness.py``): wait for ``done``, once.

The harness plays the job and writes the log in HDL, so Python wakes up a
single time; the simulation's own wall time (from the first edge to
``done``) goes to ``PAM_JOB_TIME`` when that is set.
"""

from __future__ import annotations

import os
import time

import cocotb
from cocotb.triggers import RisingEdge


@cocotb.test()
async def job(dut):
    t0 = time.perf_counter()
    await RisingEdge(dut.done)
    wall = time.perf_counter() - t0
    path = os.environ.get("PAM_JOB_TIME")
    if path:
        with open(path, "w") as f:
            f.write(f"{wall:.6f}\n")
