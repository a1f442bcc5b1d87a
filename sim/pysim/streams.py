"""The stream helper of every amaranth.sim run and test: ``put`` and ``get`` on a stream, ``run`` a design.

``put`` offers payloads on a stream port, holding valid and payload until the
transfer as the stream rules require, with idle cycles from a 0/1 pattern;
``get`` takes a number of payloads with back-pressure from another pattern;
``run`` clocks a design and runs its testbenches. ``run_scenario`` is the
one-in, one-out case: ``payloads`` into ``dut.i``, results from ``dut.o``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

from amaranth.sim import Simulator

__all__ = ["pattern", "put", "get", "run", "run_scenario"]


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


async def put(ctx, port, payloads: Iterable, valid: Iterator[int] | None = None) -> list[int]:
    """Offer each payload on stream ``port`` until it is taken; ``valid``: an optional 0/1 iterator, a 0
    idles one cycle before the next payload. Returns the cycle (counted from the call) of each transfer."""
    taken, cycle = [], 0
    for payload in payloads:
        while valid is not None and not next(valid):
            ctx.set(port.valid, 0)
            await ctx.tick()
            cycle += 1
        ctx.set(port.payload, payload)
        ctx.set(port.valid, 1)
        while True:
            _, _, ready = await ctx.tick().sample(port.ready)
            cycle += 1
            if ready:
                break
        taken.append(cycle - 1)
    ctx.set(port.valid, 0)
    return taken


async def get(ctx, port, count: int, ready: Iterator[int] | None = None, unpack=int, limit: int = 100_000) -> list:
    """Take ``count`` payloads from stream ``port`` (each through ``unpack``); ``ready``: an optional 0/1
    iterator of back-pressure. Fails after ``limit`` cycles, naming how many came."""
    results, cycles = [], 0
    while len(results) < count:
        if cycles == limit:
            raise AssertionError(f"only {len(results)} of {count} results after {limit} cycles")
        cycles += 1
        take = 1 if ready is None else next(ready)
        ctx.set(port.ready, take)
        _, _, valid, payload = await ctx.tick().sample(port.valid, port.payload)
        if valid and take:
            results.append(unpack(payload))
    return results


def run(dut, *testbenches, period: float = 1e-9, vcd: str | None = None) -> None:
    """Clock ``dut`` and run the ``testbenches`` (async functions of ``ctx``) to their end."""
    sim = Simulator(dut)
    sim.add_clock(period)
    for bench in testbenches:
        sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()


def run_scenario(dut, payloads: Sequence, valid: Iterable[int] = (), ready: Iterable[int] = (),
                 vcd: str | None = None, max_cycles: int | None = None) -> list[int]:
    """Simulate ``dut`` on ``payloads``; ``valid``/``ready`` are 0/1 iterables (default always 1)."""
    valid = iter(valid) if valid != () else None
    ready = iter(ready) if ready != () else None
    results: list[int] = []

    def unpack(payload):
        return int(payload.as_value().value) if hasattr(payload, "as_value") else int(payload)

    async def producer(ctx):
        await put(ctx, dut.i, payloads, valid)

    async def consumer(ctx):
        results.extend(await get(ctx, dut.o, len(payloads), ready, unpack, max_cycles or 20 * len(payloads) + 200))

    run(dut, producer, consumer, period=1e-8, vcd=vcd)
    return results
