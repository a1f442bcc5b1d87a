"""amaranth.sim run of a device or system top: commands in, statuses and results out."""

from __future__ import annotations

from host.commands import command_fields
from sim.pysim.ru import unpack_partial
from sim.pysim.streams import put, run

__all__ = ["run_device", "unpack_output"]


def unpack_output(payload):
    return [int(x) for x in payload.o], int(payload.error)


def run_device(dev, commands, expect_parts: int, part_ready=None, limit: int = 20_000, output: str = "part",
               unpack=unpack_partial):
    """Send ``commands`` (dicts of the top's command fields) in order; collect every status and
    ``expect_parts`` results from the ``output`` stream (a device's ``part``, a system's ``out``).
    Returns (statuses [(op, code)], results, cycles)."""
    out = getattr(dev, output)
    statuses, parts, cycles = [], [], [0]
    layout = dev.cmd.payload.shape()

    async def producer(ctx):
        await put(ctx, dev.cmd, (command_fields(layout, cmd) for cmd in commands))

    async def consumer(ctx):
        ctx.set(dev.status.ready, 1)
        for cycle in range(limit):
            take = 1 if part_ready is None else next(part_ready)
            ctx.set(out.ready, take)
            _, _, s_valid, s_payload, p_valid, p_payload = await ctx.tick().sample(
                dev.status.valid, dev.status.payload, out.valid, out.payload)
            if s_valid:
                statuses.append((int(s_payload.op), int(s_payload.code)))
            if p_valid and take:
                parts.append(unpack(p_payload))
            if len(statuses) == len(commands) and len(parts) == expect_parts:
                cycles[0] = cycle + 1
                return
        raise AssertionError(f"after {limit} cycles: {len(statuses)} of {len(commands)} statuses, "
                             f"{len(parts)} of {expect_parts} partials")

    run(dev, producer, consumer)
    return statuses, parts, cycles[0]
