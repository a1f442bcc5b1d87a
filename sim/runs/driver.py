"""The host driver on the system top: a request's decode steps, placed and migrated by ``host.driver``.

One simulation plays every step. Before step s the driver admits the step's
new token; the host then writes, device by device, only the KV columns that
changed since the last step (the new token, and the tail of any bank that a
migration re-laid out), loads the step's queries, runs every device and
reduces. After the step the driver scores it and swaps tokens between tiers
(Algorithm 2); those moves change what the next step's commands write. Each
step's outputs are checked bit for bit against the golden hardware model
over the banks as the driver left them, and against the float64 reference.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from golden.accuracy import attention_bound
from golden.formats import FP32
from golden.hwmodel import prescale_query
from hw.device import Op, Status
from hw.tierconfig import MemoryTier
from host.driver import HostDriver, StepReport
from host.mapping import DeviceShape
from sim.runs.system import (WAVE_DEPTH, SystemRun, SystemSpec, reference_error, run_system, system_commands,
                             system_golden, window_figures)
from golden.traces.format import KVTrace

__all__ = ["DriverRun", "driver_shapes", "drive_system"]


@dataclasses.dataclass
class DriverRun:
    """Every step of one request driven through the system top."""
    spec: SystemSpec
    reports: list[StepReport]                 # the driver's step reports (moves, tokens per tier, ...)
    banks: list[list[list[list[int]]]]        # per step, per device, per bank: tokens in address order
    writes: list[int]                         # KV columns written per step
    run: SystemRun
    bit_exact: list[bool]                     # per step
    max_rel_err: list[float]                  # per step, vs float64
    bound: float

    def _ends(self) -> list[int]:
        group = self.spec.group
        return [self.run.output_cycles[(s + 1) * group - 1] for s in range(len(self.reports))]

    def step_cycles(self) -> list[int]:
        """Cycles from one step's last output to the next (the first: from reset), writes included."""
        ends = self._ends()
        return [b - a for a, b in zip([0, *ends], ends)]

    def step_figures(self, step: int) -> dict:
        """``sim.runs.system.window_figures`` for step ``step`` (from the last step's output to its own)."""
        ends = self._ends()
        start = ends[step - 1] + 1 if step else 0
        tokens = [[len(bank) for bank in device] for device in self.banks[step]]
        return window_figures(self.spec, self.run, tokens, start, ends[step])


def driver_shapes(spec: SystemSpec, head_dim: int, rows: tuple[int, ...] | None = None,
                  kv_heads: int = 1) -> list[DeviceShape]:
    """The driver's view of ``spec``'s devices, device i holding tier ``MemoryTier(i)``: ``kv_heads`` kv heads'
    K and V per token (one head: 2·head_dim/lanes columns), and ``rows`` of every bank per device given to the
    request (default: all)."""
    if len(spec.devices) != 3:
        raise ValueError(f"the driver needs three devices (HBM, DDR, SSD tiers), not {len(spec.devices)}")
    rows = tuple(d.rows for d in spec.devices) if rows is None else tuple(rows)
    if len(rows) != 3 or any(not isinstance(r, int) or not 1 <= r <= d.rows for r, d in zip(rows, spec.devices)):
        raise ValueError(f"rows {rows}: one per device, each in 1..{[d.rows for d in spec.devices]}")
    token_bytes = 2 * kv_heads * head_dim * spec.format.bytes
    return [DeviceShape.from_tier(d.config(), tier, 0, 1, d.bank_groups, d.banks, token_bytes).with_rows(r)
            for tier, d, r in zip(MemoryTier, spec.devices, rows)]


def drive_system(spec: SystemSpec, trace: KVTrace, steps: int, x: float = 8.0, y: float = 3.0,
                 source: str = "oracle", sparsity: float = 0.1, kv_head: int = 0, max_moves: int = 8,
                 rows: tuple[int, ...] | None = None, seed: int | None = None, waves: str | None = None,
                 wave_depth: int = WAVE_DEPTH) -> DriverRun:
    """Drive ``steps`` decode steps of ``trace`` (format v2) for ``kv_head`` through the system top, the
    request holding ``rows`` of every bank per device (``driver_shapes``); ``seed`` adds random idle
    cycles and back-pressure; with ``waves`` (``vcd`` or ``fst``), ``wave_depth`` levels of hierarchy are traced."""
    fmt = spec.format
    spec.check_trace(trace)
    if not 0 <= kv_head < trace.kv_heads:
        raise ValueError(f"kv_head {kv_head} out of range 0..{trace.kv_heads - 1}")
    driver = HostDriver(driver_shapes(spec, trace.head_dim, rows), x, y, source, sparsity=sparsity, max_moves=max_moves)
    driver.begin(trace)
    if not 1 <= steps <= trace.steps:
        raise ValueError(f"steps must be in 1..{trace.steps}, not {steps}")
    heads = slice(kv_head * spec.group, (kv_head + 1) * spec.group)
    k, v = trace.k[:, kv_head].astype(np.int64), trace.v[:, kv_head].astype(np.int64)
    commands, reports, layouts, writes, wants, previous = [], [], [], [], [], None
    for step in range(steps):
        driver.admit(step)
        banks = [driver.bank_tokens(tier) for tier in range(len(spec.devices))]
        q = prescale_query(trace.q[step, heads], fmt)
        cmds = system_commands(spec, q, k, v, banks, previous)
        commands += cmds
        writes.append(sum(1 for c in cmds if c["op"] == Op.WRITE_KV))
        wants.append(system_golden(spec, q, k, v, banks))
        layouts.append(banks)
        reports.append(driver.rebalance(step))
        previous = banks
    run = run_system(spec, commands, seed=seed, waves=waves, wave_depth=wave_depth, expected=wants)
    ok = all(code == Status.OK for _, code in run.statuses)
    exact, errors = [], []
    for step in range(steps):
        got = [o for o, _ in run.outputs[step * spec.group:(step + 1) * spec.group]]
        exact.append(ok and (step + 1) * spec.group <= run.matched_outputs)       # the scoreboard matched all its outputs
        errors.append(reference_error(spec, trace, kv_head, step, trace.context(step), got) if len(got) == spec.group
                      else float("inf"))
    return DriverRun(spec, reports, layouts, writes, run, exact, errors, attention_bound(fmt, FP32))
