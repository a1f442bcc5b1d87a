"""An amaranth.sim run of a PU on one bank's tokens, fed in the PU's column order (``hw.kvlayout``)."""

from __future__ import annotations

import numpy as np

from hw.kvlayout import kv_columns
from hw.pu import PU
from sim.pysim.streams import put, run

__all__ = ["run_pu"]


def run_pu(pu: PU, commands, lanes: int, block: int, kv_valid=None, part_ready=None):
    """Simulate commands back to back. ``commands``: list of (q [G, head_dim] pre-scaled, k [n, d], v [n, d]).

    ``kv_valid``/``part_ready``: optional 0/1 iterators (idle input cycles, output back-pressure).
    Returns (partials per command, cycles): each partial is (m, l, [o...]) as integers.
    """
    results = [[] for _ in commands]
    cycles = [0]

    async def producer(ctx):
        for q, k, v in commands:
            q = np.asarray(q)
            group, head_dim = q.shape
            await put(ctx, pu.cmd, [{"tokens": len(k), "group": group}])
            await put(ctx, pu.q, [q[g, c * lanes:(c + 1) * lanes].tolist()
                                  for g in range(group) for c in range(head_dim // lanes)])
            await put(ctx, pu.kv, kv_columns(k, v, lanes, block), kv_valid)

    async def consumer(ctx):
        columns = sum(len(k) * 2 * (len(q[0]) // lanes) + len(q) * (len(q[0]) // lanes) for q, k, _ in commands)
        limit = 60 * columns + 3000 * len(commands)
        command = 0
        for cycle in range(limit):
            take = 1 if part_ready is None else next(part_ready)
            ctx.set(pu.part.ready, take)
            _, _, valid, payload = await ctx.tick().sample(pu.part.valid, pu.part.payload)
            if valid and take:
                results[command].append((int(payload.m), int(payload.l), [int(x) for x in payload.o]))
                if len(results[command]) == len(commands[command][0]):
                    command += 1
                    if command == len(commands):
                        cycles[0] = cycle + 1
                        return
        raise AssertionError(f"PU finished {command} of {len(commands)} commands in {limit} cycles")

    run(pu, producer, consumer)
    return results, cycles[0]
