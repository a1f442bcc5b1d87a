"""amaranth.sim scenarios for stream components: a producer with idle cycles and a consumer with back-pressure.

``run_scenario`` serves every stream test: it feeds ``payloads`` into
``dut.i`` (holding valid and payload until the transfer, as the stream rules
require), takes results from ``dut.o`` and returns them in order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from amaranth.sim import Simulator

__all__ = ["run_scenario", "pattern"]


def pattern(spec: str, seed: int = 0) -> Iterable[int]:
    """An endless 0/1 pattern: ``"always"``, ``"half"`` (1,0,…), or ``"random"`` (seeded, ~2/3 ones)."""
    import random

    if spec == "always":
        return itertools.repeat(1)
    if spec == "half":
        return itertools.cycle([1, 0])
    if spec == "random":
        rnd = random.Random(seed)
        return (int(rnd.random() < 0.67) for _ in itertools.count())
    raise ValueError(f"unknown pattern {spec!r}; choose always, half or random")


def run_scenario(dut, payloads: Sequence, valid: Iterable[int] = (), ready: Iterable[int] = (),
                 vcd: str | None = None, max_cycles: int | None = None) -> list[int]:
    """Simulate ``dut`` on ``payloads``; ``valid``/``ready`` are 0/1 iterables (default always 1)."""
    valid = iter(valid) if valid != () else pattern("always")
    ready = iter(ready) if ready != () else pattern("always")
    results: list[int] = []
    limit = max_cycles or 20 * len(payloads) + 200

    async def producer(ctx):
        for payload in payloads:
            while not next(valid):
                ctx.set(dut.i.valid, 0)
                await ctx.tick()
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, payload)
            await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)

    async def consumer(ctx):
        for _ in range(limit):
            if len(results) == len(payloads):
                return
            take = next(ready)
            ctx.set(dut.o.ready, take)
            _, _, o_valid, o_payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if o_valid and take:
                results.append(int(o_payload.as_value().value) if hasattr(o_payload, "as_value") else int(o_payload))
        raise AssertionError(f"only {len(results)} of {len(payloads)} results after {limit} cycles")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return results
