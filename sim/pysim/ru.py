"""amaranth.sim runs of a reduction unit and of the normalise stage, with idle inputs and back-pressure."""

from __future__ import annotations

from golden.pamattention import Partial
from sim.pysim.streams import put, run

__all__ = ["partial_payload", "unpack_partial", "run_ru", "run_normalize"]


def partial_payload(part: Partial, index=()) -> dict:
    """The stream payload of one head's partial (integer bit patterns)."""
    return {"m": int(part.m[index]), "l": int(part.l[index]), "o": [int(x) for x in part.o[index]]}


def unpack_partial(payload) -> tuple[int, int, list[int]]:
    """(m, l, [o…]) integers from a partial stream payload."""
    return int(payload.m), int(payload.l), [int(x) for x in payload.o]


def _simulate(dut, inputs, expected: int, unpack, out_ready, limit: int):
    """Feed each (port, payloads, valid) and collect ``expected`` outputs; returns (outputs, cycles, cycles
    with ``dut.busy`` high, or None for a unit without it)."""
    results, cycles, busy = [], [0], [0]
    probe = [dut.busy] if hasattr(dut, "busy") else []

    def producer(port, payloads, valid):
        async def run(ctx):
            await put(ctx, port, payloads, valid)
        return run

    async def consumer(ctx):
        for cycle in range(limit):
            take = 1 if out_ready is None else next(out_ready)
            ctx.set(dut.out.ready, take)
            _, _, valid, payload, *working = await ctx.tick().sample(dut.out.valid, dut.out.payload, *probe)
            busy[0] += sum(working)
            if valid and take:
                results.append(unpack(payload))
                if len(results) == expected:
                    cycles[0] = cycle + 1
                    return
        raise AssertionError(f"{type(dut).__name__} gave {len(results)} of {expected} outputs in {limit} cycles")

    run(dut, *(producer(port, payloads, valid) for port, payloads, valid in inputs), consumer)
    return results, cycles[0], busy[0] if probe else None


def run_ru(ru, commands, inp_valid=None, out_ready=None):
    """``commands``: list of lists of partial payloads; each list is one command.
    Returns (results, cycles, cycles the RU was busy merging)."""
    cmds = [{"inputs": len(command)} for command in commands]
    payloads = [p for command in commands for p in command]
    limit = 200 * (len(payloads) + len(commands)) + 100
    return _simulate(ru, [(ru.cmd, cmds, None), (ru.inp, payloads, inp_valid)], len(commands), unpack_partial,
                     out_ready, limit)


def run_normalize(unit, payloads, inp_valid=None, out_ready=None):
    """Returns ([(o bits list, error)], cycles)."""
    results, cycles, _ = _simulate(unit, [(unit.inp, payloads, inp_valid)], len(payloads),
                                   lambda p: ([int(x) for x in p.o], int(p.error)), out_ready, 200 * len(payloads) + 100)
    return results, cycles
