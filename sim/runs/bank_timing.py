"""Independent checks of the bank model: a JEDEC-style constraint checker and the streaming-cycle formula.

Neither shares code with ``hw/bank.py``: the checker replays the command
trace the RTL emitted; the formula is the closed form of the documented
policy (docs/architecture.md, "Bank timing").
"""

from __future__ import annotations

import dataclasses

from hw.bank import Command
from hw.tierconfig import BankGeometry, BankTiming

__all__ = ["check_commands", "StreamingFigures", "streaming_figures"]


def check_commands(trace, timing: BankTiming, end_cycle: int | None = None) -> list[str]:
    """Violations in a trace of ``(cycle, command, row, col)``; empty when every constraint holds.

    Checked: tRCD, column period max(tCCD_L, tBL), tRAS, tRTP, tWR (+ tBL), tRP,
    tRFC, row state (column commands only to the open row, ACT only when closed,
    REF only when closed), and that by any cycle T at least floor(T / tREFI) - 1
    refreshes have been issued (at most one owed).
    """
    t = timing
    never = -10 ** 9
    last = {c: never for c in Command}
    open_row = None
    refreshes = 0
    out = []
    for cycle, cmd, row, col in trace:
        cmd = Command(cmd)

        def need(prev, gap, what):
            if cycle - last[prev] < gap:
                out.append(f"cycle {cycle}: {cmd.name} {cycle - last[prev]} cycles after {prev.name}, "
                           f"needs {what} = {gap}")
        if cmd in (Command.RD, Command.WR):
            if open_row is None or row != open_row:
                out.append(f"cycle {cycle}: {cmd.name} to row {row} but open row is {open_row}")
            need(Command.ACT, t.tRCD, "tRCD")
            for prev in (Command.RD, Command.WR):
                need(prev, t.column_period, "max(tCCD_L, tBL)")
        elif cmd == Command.ACT:
            if open_row is not None:
                out.append(f"cycle {cycle}: ACT while row {open_row} is open")
            need(Command.PRE, t.tRP, "tRP")
            need(Command.REF, t.tRFC, "tRFC")
            open_row = row
        elif cmd == Command.PRE:
            need(Command.ACT, t.tRAS, "tRAS")
            need(Command.RD, t.tRTP, "tRTP")
            need(Command.WR, t.tWR + t.tBL, "tWR + tBL")
            open_row = None
        elif cmd == Command.REF:
            if open_row is not None:
                out.append(f"cycle {cycle}: REF while row {open_row} is open")
            need(Command.PRE, t.tRP, "tRP")
            need(Command.REF, t.tRFC, "tRFC")
            refreshes += 1
        if cmd != Command.NOP:
            last[cmd] = cycle
        if refreshes < cycle // t.tREFI - 1:
            out.append(f"cycle {cycle}: only {refreshes} refreshes, {cycle // t.tREFI} due")
    if end_cycle is not None and refreshes < end_cycle // t.tREFI - 1:
        out.append(f"end (cycle {end_cycle}): only {refreshes} refreshes, {end_cycle // t.tREFI} due")
    return out


@dataclasses.dataclass(frozen=True)
class StreamingFigures:
    reads: int
    cycles: int              # from the first request to the end of the last data burst
    row_period: int          # cycles per row of sequential reads
    utilisation: float       # read-bus busy cycles / cycles, refresh excluded
    utilisation_limit: float  # long-run limit with refresh, = row-limited × (1 - refresh share)


def streaming_figures(reads: int, timing: BankTiming, geometry: BankGeometry) -> StreamingFigures:
    """Sequential reads from row 0, column 0 of a closed bank, with no refresh in the window.

    Row period R = max(tRCD + (C - 1)·P + tRTP, tRAS) + tRP with C columns per
    row and P = max(tCCD_L, tBL). The k-th read of row j issues at
    j·R + tRCD + k·P, and its burst ends tCL + tBL later. Each refresh costs
    about tRP + tRFC + tRCD of a tREFI window (the row in progress is closed and
    reopened), which gives the long-run limit.
    """
    if reads < 1:
        raise ValueError(f"reads must be >= 1, not {reads}")
    t, c = timing, geometry.columns_per_row
    p = t.column_period
    period = max(t.tRCD + (c - 1) * p + t.tRTP, t.tRAS) + t.tRP
    rows, k = divmod(reads - 1, c)
    last = rows * period + t.tRCD + k * p
    cycles = last + t.tCL + t.tBL
    row_limited = c * t.tBL / period
    refresh_share = (t.tRP + t.tRFC + t.tRCD) / t.tREFI
    return StreamingFigures(reads, cycles, period, reads * t.tBL / cycles, row_limited * (1 - refresh_share))
