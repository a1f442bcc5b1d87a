"""``pam bench fuzz``: seeded random commands, valid and invalid, into the system top during a real decode.

Two requests decode at once on the test-size system top (``sim.runs.system.QUICK_DEVICES``): A and B, each
over its own locality trace, placed and migrated step by step by its own ``host.driver.HostDriver``. In every
bank of every device A owns the region [0, X) and B the region [X, 2X) right after it, so a read or write one
column past a region lands in the other request's KV. Their decode steps alternate, one block of commands
each (every device's SET_REGION, WRITE_KV, LOAD_Q and RUN, then REDUCE). Between any two commands go random
ones, drawn from ``KINDS``:

* invalid, each aimed so that if it took effect it would corrupt A or B: a write into A's or B's region under
  another request, one column past a region, to a bank or bank group that does not exist; a region beyond
  the bank or with base > limit; a query head beyond G; a RUN past its region, with no or too many heads, or
  for a request slot that does not exist; an op the top does not know; a device that does not exist; a
  REDUCE of no heads;
* valid: regions and writes for two more request slots (2 and 3) in the rest of every bank.

The harness plays them under random idle cycles and back-pressure on the output and status streams, and
resets the top at random cycles; play then resumes at the start of the last decode block the host knows
complete (``sim.testbench.harness``), as a host would after a reset. Nothing is sent to a device between its RUN
and the REDUCE: the device takes no command while its partials are out (``hw.device``).

Checked, for every command and every output word:

* every command's status is the one :class:`CommandModel` (the command checks of ``hw.device`` and
  ``hw.system`` over the region table, cleared at each reset) gives, so a rejected command was rejected;
* every output word of every decode step is the golden model's, bit for bit, for that request's own KV
  (the in-run scoreboard): a rejected command changed no state, and no RUN read the other request's KV.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from golden.hwmodel import prescale_query
from golden.traces.locality import generate_locality_trace
from hw.device import Op, Status
from host.driver import HostDriver
from sim.runs.driver import driver_shapes
from sim.runs.system import QUICK_DEVICES, SystemSpec, run_system, system_commands, system_golden
from sim.testbench.base import RANDOM_PAUSES

__all__ = ["KINDS", "CommandModel", "FuzzRun", "fuzz_system"]

HEAD_DIM, GROUP = 32, 2
REQUESTS = 4                                    # region slots: A, B and two for the valid noise
A, B = 0, 1
ROWS = (8, 2, 1)                                # rows of every bank each of A and B holds, per device
PROMPT = 40
MAX_STEPS = 80                                  # A's and B's rows hold 128 tokens each: the prompt and 88 more

KINDS = ("write_foreign", "write_past_limit", "write_no_unit", "region_bad", "load_q_bad", "run_bad",
         "bad_op", "no_device", "reduce_none", "region_noise", "write_noise")
INVALID = KINDS[:9]


class CommandModel:
    """What the system top answers to each command: the checks of ``hw.device`` and ``hw.system``.

    ``status(cmd)`` gives the status code and, for an accepted SET_REGION, records the region; ``clear()``
    empties the region table, as a reset does."""

    def __init__(self, spec: SystemSpec):
        self.spec = spec
        self._dev = []
        for d in spec.devices:
            tier = d.config()
            self._dev.append((tier.geometry.rows * tier.geometry.columns_per_row, 2 * (spec.head_dim // tier.lanes),
                              d.bank_groups, d.banks))
        self.clear()

    def clear(self) -> None:
        self.regions = [[(0, 0)] * self.spec.requests for _ in self._dev]

    def status(self, cmd: dict) -> int:
        op = cmd["op"]
        if op == Op.REDUCE:
            return Status.OK if cmd.get("group", 0) != 0 else Status.OUT_OF_DEVICE
        dev = cmd.get("dev", 0)
        if dev >= len(self._dev):
            return Status.OUT_OF_DEVICE
        capacity, columns, groups, banks = self._dev[dev]
        req, addr = cmd.get("req", 0), cmd.get("addr", 0)
        req_ok = req < self.spec.requests
        base, limit = self.regions[dev][req] if req_ok else (0, 0)
        if op == Op.SET_REGION:
            if not req_ok:
                return Status.OUT_OF_DEVICE
            if addr > cmd.get("limit", 0) or cmd.get("limit", 0) > capacity:
                return Status.BAD_REGION
            self.regions[dev][req] = (addr, cmd.get("limit", 0))
            return Status.OK
        if op == Op.WRITE_KV:
            if not req_ok or cmd.get("bg", 0) >= groups or cmd.get("bank", 0) >= banks or addr >= capacity:
                return Status.OUT_OF_DEVICE
            return Status.OK if base <= addr < limit else Status.OUT_OF_REGION
        if op == Op.LOAD_Q:
            return Status.OUT_OF_DEVICE if addr >= self.spec.group else Status.OK
        if op == Op.RUN:
            group = cmd.get("group", 0)
            if not req_ok or group == 0 or group > self.spec.group:
                return Status.OUT_OF_DEVICE
            counts = list(cmd.get("counts", []))[:groups * banks]
            inside = all(c == 0 or base + columns * c <= limit for c in counts)
            return Status.OK if inside else Status.OUT_OF_REGION
        return Status.BAD_OP


@dataclasses.dataclass
class FuzzRun:
    """One fuzz run: what was sent, what the top did, and every violation found."""
    seed: int
    commands: int
    decode_commands: int
    random_commands: dict                 # kind -> commands sent
    rejected: dict                        # status name -> commands the top rejected with it
    decode_steps: int                     # A's and B's, each checked bit for bit
    outputs: int
    resets: int                           # mid-run resets the run went through
    resumes: list                         # the command play resumed at after each
    cycles_last_pass: int
    wall_s: float
    sim_s: float
    status_violations: list               # (command index, kind, got, expected), the first few
    status_violation_count: int
    output_mismatch: str | None           # the scoreboard's first mismatch, or None
    unplayed: int                         # commands after the first mismatch, which ends the run

    @property
    def violations(self) -> int:
        return self.status_violation_count + (self.output_mismatch is not None)


def _regions(spec: SystemSpec) -> list[dict]:
    """Per device: A's, B's and the two noise slots' regions (base, limit), in columns."""
    out = []
    for d, rows in zip(spec.devices, ROWS):
        tier = d.config()
        per_row, capacity = tier.geometry.columns_per_row, tier.geometry.rows * tier.geometry.columns_per_row
        x = rows * per_row
        if 2 * x >= capacity:
            raise ValueError(f"rows: A and B take {2 * rows} of the {d.tier} device's {tier.geometry.rows} rows; "
                             f"the noise slots need the rest")
        half = (capacity - 2 * x) // 2
        out.append({A: (0, x), B: (x, 2 * x), 2: (2 * x, 2 * x + half), 3: (2 * x + half, capacity),
                    "capacity": capacity, "columns": 2 * (spec.head_dim // tier.lanes), "shape": (d.bank_groups, d.banks),
                    "data_bits": tier.geometry.column_bits})
    return out


def _decode_blocks(spec: SystemSpec, regions: list[dict], steps: int, seed: int):
    """A's and B's decode steps, alternating, in their ``regions``: (request, commands, golden [G, d] bits) per
    block."""
    streams = []
    for req in (A, B):
        trace = generate_locality_trace(prompt=PROMPT, steps=steps, q_heads=GROUP, kv_heads=1, head_dim=HEAD_DIM,
                                        dtype=spec.fmt, seed=seed * 2 + req)
        driver = HostDriver(driver_shapes(spec, HEAD_DIM, ROWS), 8.0, 3.0, "oracle", sparsity=0.1, max_moves=8)
        driver.begin(trace)
        streams.append((req, trace, driver, [(r[req][0], r[req][1]) for r in regions]))
    previous = {A: None, B: None}
    for step in range(steps):
        for req, trace, driver, region in streams:
            driver.admit(step)
            banks = [driver.bank_tokens(tier) for tier in range(len(spec.devices))]
            q = prescale_query(trace.q[step, :GROUP], spec.format)
            k, v = trace.k[:, 0].astype(np.int64), trace.v[:, 0].astype(np.int64)
            cmds = system_commands(spec, q, k, v, banks, previous[req], req=req, regions=region)
            yield req, cmds, system_golden(spec, q, k, v, banks)
            driver.rebalance(step)
            previous[req] = banks


def _random_command(rng: np.random.Generator, kind: str, spec: SystemSpec, regions: list[dict], busy: set,
                    noise: dict) -> dict:
    """One command of ``kind``, to a device that is not running (``busy``: devices between RUN and REDUCE).
    ``noise`` holds the region last set for each (device, noise slot); a noise write goes inside it."""
    devs = [d for d in range(len(spec.devices)) if d not in busy]
    if kind in ("no_device", "reduce_none") or not devs:
        if kind == "reduce_none" or not devs:
            return {"op": Op.REDUCE, "group": 0}
        return {"op": int(rng.choice([Op.SET_REGION, Op.WRITE_KV, Op.LOAD_Q, Op.RUN])),
                "dev": int(rng.integers(len(spec.devices), 16)), "req": A, "addr": 0, "limit": 8, "group": 1,
                "counts": [1]}
    dev = int(rng.choice(devs))
    r = regions[dev]
    groups, banks = r["shape"]
    data = int(rng.integers(0, 1 << min(r["data_bits"], 62)))
    unit = {"bg": int(rng.integers(groups)), "bank": int(rng.integers(banks))}
    victim = int(rng.choice([A, B]))
    lo, hi = r[victim]
    cmd = {"dev": dev}
    if kind == "write_foreign":               # into the victim's region, as another request
        other = int(rng.choice([q for q in range(REQUESTS) if q != victim]))
        cmd |= {"op": Op.WRITE_KV, "req": other, "addr": int(rng.integers(lo, hi)), "data": data, **unit}
    elif kind == "write_past_limit":          # the victim's own request, just past its limit (or before B's base)
        addr = hi + int(rng.integers(0, 4)) if victim == A or rng.random() < 0.5 else lo - 1 - int(rng.integers(0, 4))
        cmd |= {"op": Op.WRITE_KV, "req": victim, "addr": addr, "data": data, **unit}
    elif kind == "write_no_unit":             # a bank group, bank, address or request that does not exist
        which = int(rng.integers(4))
        cmd |= {"op": Op.WRITE_KV, "req": victim, "addr": int(rng.integers(lo, hi)), "data": data, **unit}
        if which == 0:
            cmd["bg"] = int(rng.integers(groups, 256))
        elif which == 1:
            cmd["bank"] = int(rng.integers(banks, 256))
        elif which == 2:
            cmd["addr"] = int(rng.integers(r["capacity"], 1 << 32))
        else:
            cmd["req"] = int(rng.integers(REQUESTS, 256))
    elif kind == "region_bad":                # beyond the bank, base > limit, or no such slot
        which = int(rng.integers(3))
        req = int(rng.integers(REQUESTS))
        if which == 0:
            cmd |= {"op": Op.SET_REGION, "req": req, "addr": 0, "limit": int(rng.integers(r["capacity"] + 1, 1 << 32))}
        elif which == 1:
            base = int(rng.integers(1, r["capacity"] + 1))
            cmd |= {"op": Op.SET_REGION, "req": req, "addr": base, "limit": int(rng.integers(0, base))}
        else:
            cmd |= {"op": Op.SET_REGION, "req": int(rng.integers(REQUESTS, 256)), "addr": lo, "limit": hi}
    elif kind == "load_q_bad":
        cmd |= {"op": Op.LOAD_Q, "addr": int(rng.integers(spec.group, 1 << 32)),
                "q": [int(x) for x in rng.integers(0, 1 << 16, spec.head_dim)]}
    elif kind == "run_bad":                   # past the region, no heads, too many, or no such slot
        counts = [int(c) for c in rng.integers(0, 3, groups * banks)]
        which = int(rng.integers(4))
        if which == 0:
            b = int(rng.integers(groups * banks))
            counts[b] = (hi - lo) // r["columns"] + 1 + int(rng.integers(0, 4))
            cmd |= {"op": Op.RUN, "req": victim, "group": spec.group, "counts": counts}
        else:
            group = (0, spec.group + 1 + int(rng.integers(0, 8)), spec.group)[which - 1]
            req = victim if which < 3 else int(rng.integers(REQUESTS, 256))
            cmd |= {"op": Op.RUN, "req": req, "group": group, "counts": counts}
    elif kind == "bad_op":
        cmd |= {"op": int(rng.choice([Op.NOP, 6, 7])), "req": victim, "addr": int(rng.integers(lo, hi)),
                "data": data, "limit": hi, "group": 1, **unit}
    elif kind == "region_noise":
        req = int(rng.integers(2, REQUESTS))
        nlo, nhi = r[req]
        base = int(rng.integers(nlo, nhi))
        cmd |= {"op": Op.SET_REGION, "req": req, "addr": base, "limit": int(rng.integers(base + 1, nhi + 1))}
        noise[dev, req] = (base, cmd["limit"])
    elif kind == "write_noise":
        req = int(rng.integers(2, REQUESTS))
        nlo, nhi = noise.get((dev, req), r[req])
        cmd |= {"op": Op.WRITE_KV, "req": req, "addr": int(rng.integers(nlo, nhi)), "data": data, **unit}
    else:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    return cmd


def fuzz_system(commands: int = 100_000, steps: int = 24, resets: int = 4, seed: int = 1, fmt: str = "fp16",
                raw: bool = True, progress=None) -> FuzzRun:
    """At least ``commands`` commands in all: ``steps`` decode steps of A and of B, random commands between them,
    ``resets`` mid-run resets; played on the system top under the plain C++ main (``raw``) or cocotb."""
    for field, value, low in (("commands", commands, 1), ("steps", steps, 1), ("resets", resets, 0)):
        if value < low:
            raise ValueError(f"{field} must be >= {low}, not {value}")
    if steps > MAX_STEPS:
        raise ValueError(f"steps: at most {MAX_STEPS} (each request's rows hold its {PROMPT}-token prompt and "
                         f"88 more tokens), not {steps}")
    say = progress or (lambda line: None)
    started = time.perf_counter()
    spec = SystemSpec(QUICK_DEVICES, fmt, HEAD_DIM, GROUP, requests=REQUESTS)
    rng = np.random.default_rng([seed, 0xF022])
    say(f"fuzz: placing {steps} decode steps of two requests (seed {seed})")
    regions = _regions(spec)
    blocks = list(_decode_blocks(spec, regions, steps, seed))
    decode = sum(len(cmds) for _, cmds, _ in blocks)
    rate = max(0.0, (commands - decode) / decode)          # random commands per decode command
    model = CommandModel(spec)
    stream, kinds, checkpoints, wants = [], [], [], []
    sent, noise_regions = dict.fromkeys(KINDS, 0), {}

    def add_noise(busy: set) -> None:
        kind = str(rng.choice(KINDS))
        noise = _random_command(rng, kind, spec, regions, busy, noise_regions)
        if kind in INVALID and model.status(noise) == Status.OK:
            raise AssertionError(f"the generator made a valid {kind} command: {noise}")
        stream.append(noise)
        kinds.append(kind)
        sent[kind] += 1
    for _, cmds, want in blocks:
        checkpoints.append(len(stream))
        busy: set = set()
        for cmd in cmds:
            stream.append(cmd)
            kinds.append("decode")
            if cmd["op"] == Op.RUN:
                busy.add(cmd["dev"])
            if cmd["op"] == Op.REDUCE:
                busy = set()
            for _ in range(rng.poisson(rate)):
                add_noise(busy)
        wants.append(want)
    while len(stream) < commands:                          # the Poisson draws fell short: top up at the end
        add_noise(set())
    # The resets, at job cycles spread over the first 5 cycles per command: the job takes more (a command takes
    # 4 cycles without pauses; RUNs and REDUCEs thousands), so every reset comes before its end.
    spread = np.sort(rng.integers(100, 5 * len(stream), resets))
    reset_cycles = [int(c) + 3 * i for i, c in enumerate(spread)]       # more than the 2 reset cycles apart
    say(f"fuzz: {len(stream):,} commands ({decode:,} of decode), {resets} resets; simulating the system top")
    run = run_system(spec, stream, seed=seed, resets=reset_cycles, checkpoints=checkpoints, raw=raw,
                     expected=wants, pauses=RANDOM_PAUSES)
    model.clear()
    resumes = set(run.resumes)
    violations, count, rejected = [], 0, {}
    for i, (cmd, kind, (op, code)) in enumerate(zip(stream, kinds, run.statuses)):
        if i in resumes:
            model.clear()
        want = model.status(cmd)
        if code != Status.OK:
            rejected[Status(code).name] = rejected.get(Status(code).name, 0) + 1
        if code != want or op != cmd["op"] & 7:
            count += 1
            if len(violations) < 5:
                violations.append((i, kind, (op, code), (cmd["op"] & 7, int(want))))
    return FuzzRun(seed, len(stream), decode, sent, rejected, len(blocks), len(run.outputs), len(run.resumes),
                   run.resumes, run.cycles, time.perf_counter() - started, run.wall_s, violations, count,
                   run.mismatch, len(stream) - len(run.statuses))

