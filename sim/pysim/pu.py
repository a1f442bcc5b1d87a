"""An amaranth.sim run of a PU on one bank's tokens, fed in the PU's column order (``hw.kvlayout``)."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from hw.kvlayout import kv_columns
from hw.pu import PU

__all__ = ["run_pu"]


def run_pu(pu: PU, jobs, lanes: int, block: int, kv_valid=None, part_ready=None):
    """Simulate commands back to back. ``jobs``: list of (q [G, head_dim] pre-scaled, k [n, d], v [n, d]).

    ``kv_valid``/``part_ready``: optional 0/1 iterators (idle input cycles, output back-pressure).
    Returns (partials per job, cycles): each partial is (m, l, [o...]) as integers.
    """
    results = [[] for _ in jobs]
    cycles = [0]

    async def producer(ctx):
        for q, k, v in jobs:
            q = np.asarray(q)
            group, head_dim = q.shape
            chunks = head_dim // lanes
            ctx.set(pu.cmd.payload, {"tokens": len(k), "group": group})
            ctx.set(pu.cmd.valid, 1)
            await ctx.tick().until(pu.cmd.ready)
            ctx.set(pu.cmd.valid, 0)
            for g in range(group):
                for c in range(chunks):
                    ctx.set(pu.q.payload, q[g, c * lanes:(c + 1) * lanes].tolist())
                    ctx.set(pu.q.valid, 1)
                    await ctx.tick().until(pu.q.ready)
            ctx.set(pu.q.valid, 0)
            for col in kv_columns(k, v, lanes, block):
                while kv_valid is not None and not next(kv_valid):
                    ctx.set(pu.kv.valid, 0)
                    await ctx.tick()
                ctx.set(pu.kv.payload, col)
                ctx.set(pu.kv.valid, 1)
                await ctx.tick().until(pu.kv.ready)
            ctx.set(pu.kv.valid, 0)

    async def consumer(ctx):
        columns = sum(len(k) * 2 * (len(q[0]) // lanes) + len(q) * (len(q[0]) // lanes) for q, k, _ in jobs)
        limit = 60 * columns + 3000 * len(jobs)
        job = 0
        for cycle in range(limit):
            take = 1 if part_ready is None else next(part_ready)
            ctx.set(pu.part.ready, take)
            _, _, valid, payload = await ctx.tick().sample(pu.part.valid, pu.part.payload)
            if valid and take:
                results[job].append((int(payload.m), int(payload.l), [int(x) for x in payload.o]))
                if len(results[job]) == len(jobs[job][0]):
                    job += 1
                    if job == len(jobs):
                        cycles[0] = cycle + 1
                        return
        raise AssertionError(f"PU finished {job} of {len(jobs)} commands in {limit} cycles")

    sim = Simulator(pu)
    sim.add_clock(1e-9)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    return results, cycles[0]
