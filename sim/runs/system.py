"""A decode step on the system top: its shape, the host's commands, and the golden answer.

``SystemSpec`` names the devices (tier, bank groups, banks, rows per bank) of
a scaled-down system; device i is tier i of a ``golden.placement.Placement``
(one device per tier entry). ``system_commands`` encodes one (request, kv
head)'s KV and queries for every device plus the final REDUCE, and
``system_golden`` gives the bits the top must return: each bank's PU in its
own tier's lanes and block size, PAM's tree, one division (in the inter-device
RU's lanes, HBM's).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from golden.accuracy import attention_bound, attention_error
from golden.formats import FP32, format_by_name
from golden.hwmodel import HwConfig, bank_partial, block_tokens_for, finalize, prescale_query, ru_merge
from golden.pamattention import reduce_tree
from golden.placement import Placement, TierShape
from golden.reference import decode_attention
from hw.device import STATUS_LAYOUT, Device, Op, Status
from hw.system import System
from hw.tierconfig import TierConfig, load_tier
from host.commands import CommandPacker, device_commands
from sim.testbench.harness import HarnessPorts
from sim.testbench.base import RANDOM_PAUSES, Pauses, Testbench
from sim.verilator.build import SimBuild, build_design
from sim.verilator.separate import Separator

__all__ = ["SMALL_DEVICES", "QUICK_DEVICES", "DEMO_DEVICES", "SCHEDULE_DEVICES", "DeviceSpec", "SystemSpec", "spread_placement", "device_partitions", "SystemStep",
           "system_step", "reference_error", "SystemRun", "window_figures", "system_commands", "system_golden", "count_by_device", "run_system",
           "system_build", "system_job", "output_words", "SYSTEM_PORTS"]


@dataclasses.dataclass(frozen=True)
class DeviceSpec:
    """One device: its tier, N bank groups × M banks, ``rows`` per bank, and optionally fewer ``lanes``
    than the tier's PU (a narrower column, to keep a simulated device small) and, for a flash tier, a
    shorter page read ``tR`` (to keep a simulated step short)."""
    tier: str
    bank_groups: int
    banks: int
    rows: int = 2
    lanes: int | None = None
    tR: int | None = None

    def config(self) -> TierConfig:
        """The device's tier config: read and adjusted once per process for each distinct spec."""
        return _device_config(self.tier, self.rows, self.lanes, self.tR)


@functools.lru_cache(maxsize=None)
def _device_config(name: str, rows: int, lanes: int | None, tR: int | None) -> TierConfig:
    """``DeviceSpec.config`` of a spec with these fields (a TierConfig is frozen, so one object serves every call)."""
    tier = load_tier(name).with_rows(rows)
    if tR is not None:
        if not tier.is_flash:
            raise ValueError(f"tR {tR}: tier {name!r} is not a flash tier")
        tier = dataclasses.replace(tier, timing=dataclasses.replace(tier.timing, tR=tR))
    if lanes is None or lanes == tier.lanes:
        return tier
    if not 1 <= lanes < tier.lanes:
        raise ValueError(f"lanes {lanes}: a {name} device can only narrow its PU (1 .. {tier.lanes})")
    lane_bits = tier.geometry.column_bits // tier.lanes
    geometry = dataclasses.replace(tier.geometry, column_bits=lane_bits * lanes)
    return dataclasses.replace(tier, geometry=geometry, lanes=lanes)


@dataclasses.dataclass(frozen=True)
class SystemSpec:
    """The devices, the format, head_dim, G, and the region slots of every device (requests that may hold KV
    in it at once)."""
    devices: tuple[DeviceSpec, ...]
    fmt: str
    head_dim: int
    group: int
    requests: int = 4

    @property
    def format(self):
        return format_by_name(self.fmt)

    def block(self, tier: TierConfig) -> int:
        return block_tokens_for(tier.buffer_bytes, FP32, self.group)

    def shapes(self) -> tuple[TierShape, ...]:
        return tuple(TierShape(d.tier, 1, d.bank_groups, d.banks) for d in self.devices)

    def placement(self, coords) -> Placement:
        """Token coordinates (device, bank group, bank) as a placement: one placement tier per device."""
        coords = np.asarray(coords, np.int64).reshape(-1, 3)
        return Placement(self.shapes(), np.column_stack([coords[:, 0], np.zeros(len(coords), np.int64),
                                                         coords[:, 1], coords[:, 2]]))

    def check_trace(self, trace) -> None:
        """Raise ValueError naming the fields where ``trace`` does not fit this system."""
        if trace.fmt.name != self.fmt or trace.head_dim != self.head_dim or trace.group != self.group:
            raise ValueError(f"trace is {trace.fmt.name}, head_dim {trace.head_dim}, group {trace.group}; the "
                             f"system is {self.fmt}, head_dim {self.head_dim}, group {self.group}")

    def bank_tokens(self) -> list[int]:
        """Tokens one bank of each device holds: its columns over the 2·C columns (K and V) of a token."""
        limits = []
        for d in self.devices:
            tier = d.config()
            limits.append(tier.geometry.rows * tier.geometry.columns_per_row // (2 * (self.head_dim // tier.lanes)))
        return limits

    def check_fits(self, tokens_per_bank: list[list[int]]) -> None:
        """Refuse, before any build, a placement that puts more tokens in a bank than it holds."""
        for d, (counts, limit) in enumerate(zip(tokens_per_bank, self.bank_tokens())):
            if counts and max(counts) > limit:
                dev = self.devices[d]
                raise ValueError(f"tokens: {sum(counts)} tokens put {max(counts)} in one bank of the {dev.tier} "
                                 f"device, which holds {limit} ({dev.rows} rows at head_dim {self.head_dim})")

    def tree(self) -> tuple:
        """PAM's reduction tree over the banks of every device (``golden.placement.Placement.tree``)."""
        return self.placement(np.zeros((0, 3), np.int64)).tree()

    def build(self, separate=None) -> System:
        """The system top; ``separate`` as in ``hw.device.Device`` (``sim.verilator.separate.Separator``)."""
        fmt, devices = self.format, []
        for d in self.devices:
            tier = d.config()
            devices.append(Device(tier, fmt, FP32, self.head_dim, self.group, self.block(tier), d.bank_groups,
                                  d.banks, requests=self.requests, separate=separate))
        return System(devices, fmt, FP32, self.devices[0].config().lanes, self.head_dim, separate=separate)


# The scaled-down system of the end-to-end tests, `pam sim device` and `pam bench device` (one cached build per
# format and head_dim): HBM 1 x 2 banks, DDR 2 bank groups x 1, SSD 1 channel x 2 dies; HBM and SSD PUs narrowed
# to DDR's 4 lanes so a build takes minutes. At head_dim 32 (16 columns per token) every HBM/DDR bank holds 64
# tokens and every SSD die 128 (four 16 KiB pages): 512 in all.
SMALL_DEVICES = (DeviceSpec("hbm3", 1, 2, rows=32, lanes=4), DeviceSpec("ddr4", 2, 1, rows=8),
                 DeviceSpec("ssd", 1, 2, rows=4, lanes=4))
# The same with a 3 us page read instead of 30 us, which keeps a decode step to thousands of cycles: the
# end-to-end tests and `pam demo` (`pam bench device` keeps the full tR).
QUICK_DEVICES = (*SMALL_DEVICES[:2], dataclasses.replace(SMALL_DEVICES[2], tR=3000))
# The demo's system (`pam demo`, at head_dim 128): an HBM device of four banks with the tier's own 16-lane PUs,
# a DDR device of two banks (4 lanes, as the tier has) and an SSD channel of two dies (narrowed to 4 lanes, with a
# 3 us page read). At d = 128 an HBM bank holds 2 tokens per row, a DDR bank 2 and an SSD page 8.
# The devices ``pam schedule`` places a trace over: an HBM stack of 4x4 banks, a DDR DIMM of 2x4, an SSD
# channel of 8 dies; their rows are what the request is given (``sim.runs.driver.driver_shapes``).
SCHEDULE_DEVICES = (DeviceSpec("hbm3", 4, 4, rows=8), DeviceSpec("ddr4", 2, 4, rows=64), DeviceSpec("ssd", 8, 1, rows=32))
DEMO_DEVICES = (DeviceSpec("hbm3", 1, 4, rows=64), DeviceSpec("ddr4", 1, 2, rows=64),
                DeviceSpec("ssd", 1, 2, rows=32, lanes=4, tR=3000))


def spread_placement(spec: SystemSpec, tokens: int) -> Placement:
    """Tokens dealt round robin over every bank of every device (bank-group major, device by device)."""
    banks = [(d, g, b) for d, dev in enumerate(spec.devices) for g in range(dev.bank_groups)
             for b in range(dev.banks)]
    return spec.placement([banks[i % len(banks)] for i in range(tokens)])


def device_partitions(spec: SystemSpec, placement: Placement) -> list[list[np.ndarray]]:
    """Token indices per bank of each device (bank-group major), as ``placement`` orders them."""
    parts, first, out = placement.partitions(), 0, []
    for d in spec.devices:
        out.append(parts[first:first + d.bank_groups * d.banks])
        first += d.bank_groups * d.banks
    return out


def system_commands(spec: SystemSpec, q, k, v, banks: list[list[np.ndarray]],
                    previous: list[list[np.ndarray]] | None = None, req: int = 0,
                    regions: list[tuple[int, int]] | None = None) -> list[dict]:
    """Every device's SET_REGION, WRITE_KV, LOAD_Q and RUN (``dev`` set), then REDUCE.

    q : [G, d] pre-scaled query bits; k, v : [tokens, d] bits of one kv head; banks : token indices per
    bank of each device, in the order the bank holds them; previous : the same at the last step (only
    changed columns are written); req : the request's region slot; regions : its (base, limit) per device
    (default: from column 0, as many columns as its fullest bank needs)."""
    cmds = []
    for dev, (d, parts) in enumerate(zip(spec.devices, banks)):
        tier = d.config()
        held = None if previous is None else previous[dev]
        base, limit = (0, None) if regions is None else regions[dev]
        cmds += [{**c, "dev": dev} for c in device_commands(q, k, v, parts, d.banks, tier.lanes, spec.block(tier),
                                                            req=req, base=base, limit=limit, previous=held,
                                                            fmt=spec.format)]
    cmds.append({"op": Op.REDUCE, "group": spec.group})
    return cmds


def system_golden(spec: SystemSpec, q, k, v, banks: list[list[np.ndarray]]) -> np.ndarray:
    """[G, d] output bits of the bit-exact hardware model, each bank's tokens taken in the given order."""
    fmt, leaves = spec.format, []
    for d, parts in zip(spec.devices, banks):
        tier = d.config()
        cfg = HwConfig(fmt, FP32, tier.lanes, spec.block(tier))
        leaves += [bank_partial(q, k[np.asarray(idx, np.int64)], v[np.asarray(idx, np.int64)], cfg)
                   for idx in parts]
    top_tier = spec.devices[0].config()
    cfg = HwConfig(fmt, FP32, top_tier.lanes, spec.block(top_tier))
    return finalize(reduce_tree(spec.tree(), leaves, lambda ps: ru_merge(ps, cfg)), cfg)


def count_by_device(spec: SystemSpec, placement: Placement) -> list[list[int]]:
    """Tokens per bank, device by device."""
    return [[len(p) for p in parts] for parts in device_partitions(spec, placement)]


@dataclasses.dataclass
class SystemRun:
    """One run of the system top under the job harness (``sim/testbench/harness.py``)."""
    statuses: list[tuple[int, int]]           # (op, code) per command
    outputs: list[tuple[list[int], int]]      # (O/l bits per lane, error flags) per query head
    output_cycles: list[int]
    cycles: int
    changes: list[tuple[int, int, int]]       # (cycle, pu_active, ru_active) at every change
    units: int                                # ru_active bits: one per device, then the inter-device RU
    built_s: float
    wall_s: float
    verilog: str
    wave_file: str | None = None              # the traced run's VCD or FST
    mismatch: str | None = None               # the scoreboard's first mismatch (cycle, output, lanes); None: none
    matched_outputs: int = 0                  # outputs the scoreboard passed before it
    resumes: list[int] = dataclasses.field(default_factory=list)   # per mid-run reset: the command play resumed at

    def activity(self, start: int = 0, end: int | None = None) -> tuple[dict, list[int]]:
        """PU and RU activity in cycles [start, end]: ``{"pu"|"ru": [first, last, busy cycles] per unit}``
        (a device's PUs, its RUs; the last unit is the inter-device RU, which has no PUs) and, per unit,
        the cycles its RUs work while its PUs do (the top RU: while any PU does)."""
        end = self.cycles - 1 if end is None else end
        top = self.units - 1
        act = {key: [[None, None, 0] for _ in range(self.units)] for key in ("pu", "ru")}
        overlap = [0] * self.units
        for (c0, pu, ru), (c1, _, _) in zip(self.changes, [*self.changes[1:], (self.cycles, 0, 0)]):
            lo, hi = max(c0, start), min(c1 - 1, end)
            if lo > hi:
                continue
            both = pu & ru | (int(pu != 0) << top & ru)
            for i in range(self.units):
                for key, bits in (("pu", pu), ("ru", ru)):
                    if bits >> i & 1:
                        slot = act[key][i]
                        slot[0] = lo if slot[0] is None else slot[0]
                        slot[1] = hi
                        slot[2] += hi - lo + 1
                overlap[i] += (hi - lo + 1) * (both >> i & 1)
        return act, overlap


# Waves of the system top cover the top and its devices' own logic (command checks, muxes) by default; a
# whole top traced for thousands of cycles writes gigabytes.
WAVE_DEPTH = 2


# The job harness's view of the system top: commands in, outputs and one status per command out, PU and RU
# activity logged at every change (``sim/testbench/harness.py``).
SYSTEM_PORTS = HarnessPorts(cmd="cmd", out="out", status="status", monitors=("pu_active", "ru_active"))


@functools.cache
def _system(spec: SystemSpec) -> tuple[System, dict]:
    """The top, with each distinct unit to be emitted once (``sim.verilator.separate``), built once per process."""
    separator = Separator()
    return spec.build(separator), separator.modules


@functools.cache
def _system_build(spec: SystemSpec, waves: str | None, wave_depth: int | None) -> tuple[System, SimBuild]:
    """The top and its Verilator build, once per process (the Verilog is cached on disk by ``spec``)."""
    system, modules = _system(spec)
    return system, build_design(system, "system", key=repr(spec), harness=SYSTEM_PORTS, waves=waves,
                                wave_depth=wave_depth if waves else None, modules=modules)


def system_build(spec: SystemSpec, waves: str | None = None, wave_depth: int | None = WAVE_DEPTH) -> SimBuild:
    """The Verilator build of ``spec``'s top (cached); ``waves``: None, ``vcd`` or ``fst``."""
    return _system_build(spec, waves, wave_depth)[1]


def system_job(spec: SystemSpec, commands: list[dict]) -> tuple[list[int], list[int], int]:
    """The harness job of ``commands``: words, gates and the number of output words. A command waits for the
    outputs of every REDUCE before it, as the next decode step needs them (only the first after a REDUCE
    ever waits: the rest come after it)."""
    layout = _system(spec)[0].cmd.payload.shape()
    outputs, gates = 0, []
    for c in commands:
        gates.append(outputs)
        outputs += int(c["group"]) if c["op"] == Op.REDUCE else 0
    pack = CommandPacker(layout)
    return [pack(c) for c in commands], gates, outputs


def output_words(spec: SystemSpec, wants) -> list[int]:
    """The top's ``out`` words of golden outputs ``wants`` ([G, d] bits per REDUCE), flags clear."""
    width = spec.format.width
    return [sum(int(x) << i * width for i, x in enumerate(row)) for want in wants for row in want]


def _describe_output(spec: SystemSpec, index: int, got: int, expected: int) -> str:
    layout = _system(spec)[0].out.payload.shape()
    a, b = layout.from_bits(got), layout.from_bits(expected)
    bad = [i for i in range(spec.head_dim) if int(a.o[i]) != int(b.o[i])]
    return (f"REDUCE {index // spec.group}, query head {index % spec.group}: O differs at {len(bad)} lanes "
            f"{bad[:4]}, error flags {int(a.error)} (expected {int(b.error)})")


def run_system(spec: SystemSpec, commands: list[dict], seed: int | None = None, resets=(), checkpoints=(),
               waves: str | None = None, limit: int = 10_000_000, wave_depth: int = WAVE_DEPTH,
               raw: bool = False, expected=None, pauses: Pauses = RANDOM_PAUSES) -> SystemRun:
    """Build ``spec`` under Verilator (cached per configuration) and play ``commands`` into it through the job
    harness (``system_job``): under cocotb, or with ``raw`` under the plain C++ main. ``expected`` (golden
    [G, d] output bits per REDUCE) goes to the scoreboard; ``seed`` turns on the ``pauses``; ``resets`` and
    ``checkpoints`` reset the top mid-run (``sim.testbench.base.Testbench.play``). With ``waves``
    (``vcd`` or ``fst``), the wave file holds ``wave_depth`` levels of the top's hierarchy
    (``sim.verilator.build.build_design``)."""
    system, build = _system_build(spec, waves, wave_depth)
    out_layout = system.out.payload.shape()
    words, gates, outputs = system_job(spec, commands)
    played = Testbench(build, functools.partial(_describe_output, spec)).play(
        words, gates, outputs, None if expected is None else output_words(spec, expected),
        pauses if seed is not None else Pauses(), seed, resets, limit, raw, tag="system", checkpoints=checkpoints)
    log = played.log
    if played.matched and (log.timed_out or len(log.outputs) < outputs or len(log.statuses) < len(commands)):
        raise AssertionError(f"after {log.cycles} cycles: {len(log.statuses)} of {len(commands)} statuses, "
                             f"{len(log.outputs)} of {outputs} outputs")
    statuses = []
    for word in log.statuses:
        st = STATUS_LAYOUT.from_bits(word)
        statuses.append((int(st.op), int(st.code)))
    results = []
    for _, word in log.outputs:
        out = out_layout.from_bits(word)
        results.append(([int(x) for x in out.o], int(out.error)))
    return SystemRun(statuses=statuses, outputs=results, output_cycles=[c for c, _ in log.outputs],
                     cycles=log.cycles, changes=log.changes, units=len(system.ru_active), built_s=build.built_s,
                     wall_s=played.wall_s, verilog=str(build.build_dir / "system.v"),
                     wave_file=None if build.wave_file is None else str(build.wave_file),
                     mismatch=played.mismatch, matched_outputs=played.matched_outputs, resumes=log.resumes)


@dataclasses.dataclass
class SystemStep:
    """One decode step of one (request, kv head) on the system top, checked and measured."""
    spec: SystemSpec
    placement: Placement
    run: SystemRun
    expected: np.ndarray | None      # [G, d] golden output bits; None for a step over no tokens
    bit_exact: bool
    flags_clear: bool
    max_rel_err: float
    bound: float

    def figures(self) -> dict:
        """Cycles per device and for the system, the reduction tail after the last PU, and RU/PU overlap."""
        return window_figures(self.spec, self.run, count_by_device(self.spec, self.placement))


def window_figures(spec: SystemSpec, run: SystemRun, tokens_per_bank: list[list[int]], start: int = 0,
                   end: int | None = None) -> dict:
    """One step's figures from the cycles [start, end] of a run: PU span and RU work per device, attention
    time (first PU start to the last output), the reduction tail after the last PU, and RU/PU overlap."""
    end = run.cycles - 1 if end is None else end
    act, overlap = run.activity(start, end)
    n = len(spec.devices)
    devices = []
    for d, dev in enumerate(spec.devices):
        pu, ru = act["pu"][d], act["ru"][d]
        devices.append({"tier": dev.tier, "shape": f"{dev.bank_groups}x{dev.banks}",
                        "tokens": int(sum(tokens_per_bank[d])), "pu_first": pu[0], "pu_last": pu[1],
                        "pu_span": pu[1] - pu[0] + 1 if pu[0] is not None else 0, "ru_busy": ru[2],
                        "ru_overlapping_pu": overlap[d]})
    starts = [d["pu_first"] for d in devices if d["pu_first"] is not None]
    ends = [d["pu_last"] for d in devices if d["pu_last"] is not None]
    last_out = max(c for c in run.output_cycles if start <= c <= end)
    first = min(starts) if starts else last_out
    attention = last_out - first + 1
    tail = last_out - max(ends) if ends else attention
    ru_busy = sum(d["ru_busy"] for d in devices) + act["ru"][n][2]
    ru_overlap = sum(d["ru_overlapping_pu"] for d in devices) + overlap[n]
    return {"devices": devices, "pu_first": first, "pu_last": max(ends) if ends else None, "output_cycle": last_out,
            "attention_cycles": attention, "tail_cycles": tail, "tail_fraction": tail / attention,
            "ru_busy": ru_busy, "ru_overlapping_pu": ru_overlap,
            "ru_overlap_fraction": ru_overlap / ru_busy if ru_busy else 0.0, "total_cycles": end - start + 1}


def reference_error(spec: SystemSpec, trace, kv_head: int, step: int, tokens: int, got) -> float:
    """Largest relative error of output bits ``got`` [G, d] against float64 attention over the first
    ``tokens`` tokens (placement-blind)."""
    fmt, heads = spec.format, slice(kv_head * spec.group, (kv_head + 1) * spec.group)
    ref = decode_attention(fmt.to_float(trace.q[step, heads]), fmt.to_float(trace.k[:tokens, kv_head:kv_head + 1]),
                           fmt.to_float(trace.v[:tokens, kv_head:kv_head + 1]))
    return attention_error(fmt.to_float(np.array(got)), ref)["max_rel_err"]


def system_step(spec: SystemSpec, trace, placement: Placement, kv_head: int = 0, step: int = 0,
                seed: int | None = None, reset_at: int = 0, waves: str | None = None,
                pauses: Pauses = RANDOM_PAUSES, wave_depth: int = WAVE_DEPTH) -> SystemStep:
    """Place the first ``placement.tokens`` tokens of the step's context, run the step on the system top
    under Verilator, and compare with the golden model and the float64 reference."""
    fmt = spec.format
    spec.check_trace(trace)
    if placement.tokens > trace.context(step):
        raise ValueError(f"placement has {placement.tokens} tokens; step {step} has only {trace.context(step)}")
    spec.check_fits(count_by_device(spec, placement))
    heads = slice(kv_head * spec.group, (kv_head + 1) * spec.group)
    n = placement.tokens
    q = prescale_query(trace.q[step, heads], fmt)
    k, v = trace.k[:n, kv_head].astype(np.int64), trace.v[:n, kv_head].astype(np.int64)
    banks = device_partitions(spec, placement)
    want = system_golden(spec, q, k, v, banks) if n else None     # over no tokens: only the empty flag
    run = run_system(spec, system_commands(spec, q, k, v, banks), seed=seed,
                     resets=(reset_at,) if reset_at else (), waves=waves, wave_depth=wave_depth,
                     expected=None if want is None else [want], pauses=pauses)
    got = [o for o, _ in run.outputs]
    ok_status = all(code == Status.OK for _, code in run.statuses)
    bit_exact = ok_status and want is not None and run.mismatch is None
    err = reference_error(spec, trace, kv_head, step, n, got) if n else 0.0
    return SystemStep(spec, placement, run, want, bit_exact, all(e == 0 for _, e in run.outputs), err,
                      attention_bound(fmt, FP32))
