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
import json

import numpy as np

from golden.accuracy import attention_bound, attention_error
from golden.formats import FP32, format_by_name
from golden.hwmodel import HwConfig, bank_partial, block_tokens_for, finalize, prescale_query, ru_merge
from golden.pamattention import reduce_tree
from golden.placement import Placement, TierShape
from golden.reference import decode_attention
from hw.device import STATUS_LAYOUT, Device
from hw.system import REDUCE, System
from hw.tierconfig import TierConfig, load_tier
from host.commands import device_commands, pack_command
from sim.runner import build_design, run_bench

__all__ = ["SMALL_DEVICES", "DeviceSpec", "SystemSpec", "spread_placement", "SystemStep", "system_step", "SystemRun", "system_commands", "system_golden", "count_by_device",
           "run_system"]


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
        tier = load_tier(self.tier).with_rows(self.rows)
        if self.tR is not None:
            if not tier.is_flash:
                raise ValueError(f"tR {self.tR}: tier {self.tier!r} is not a flash tier")
            tier = dataclasses.replace(tier, timing=dataclasses.replace(tier.timing, tR=self.tR))
        if self.lanes is None or self.lanes == tier.lanes:
            return tier
        if not 1 <= self.lanes < tier.lanes:
            raise ValueError(f"lanes {self.lanes}: a {self.tier} device can only narrow its PU "
                             f"(1 .. {tier.lanes})")
        geometry = dataclasses.replace(tier.geometry, column_bits=16 * self.lanes)
        return dataclasses.replace(tier, geometry=geometry, lanes=self.lanes)


@dataclasses.dataclass(frozen=True)
class SystemSpec:
    devices: tuple[DeviceSpec, ...]
    fmt: str
    head_dim: int
    group: int

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

    def build(self) -> System:
        fmt, devices = self.format, []
        for d in self.devices:
            tier = d.config()
            devices.append(Device(tier, fmt, FP32, self.head_dim, self.group, self.block(tier), d.bank_groups,
                                  d.banks, requests=1))
        return System(devices, fmt, FP32, self.devices[0].config().lanes, self.head_dim)


# The scaled-down system of the end-to-end tests, `pam sim device` and `pam bench device` (one cached build per
# format and head_dim): HBM 1 x 2 banks, DDR 2 bank groups x 1, SSD 1 channel x 2 dies; HBM and SSD PUs narrowed
# to DDR's 4 lanes so a build takes minutes. 64 tokens per HBM/DDR bank and 128 per SSD die at head_dim 16.
SMALL_DEVICES = (DeviceSpec("hbm3", 1, 2, rows=16, lanes=4), DeviceSpec("ddr4", 2, 1, rows=4),
                 DeviceSpec("ssd", 1, 2, rows=2, lanes=4))


def spread_placement(spec: SystemSpec, tokens: int) -> Placement:
    """Tokens dealt round robin over every bank of every device (bank-group major, device by device)."""
    banks = [(d, g, b) for d, dev in enumerate(spec.devices) for g in range(dev.bank_groups)
             for b in range(dev.banks)]
    return spec.placement([banks[i % len(banks)] for i in range(tokens)])


def _per_device(spec: SystemSpec, placement: Placement) -> list[list[np.ndarray]]:
    parts, first, out = placement.partitions(), 0, []
    for d in spec.devices:
        out.append(parts[first:first + d.bank_groups * d.banks])
        first += d.bank_groups * d.banks
    return out


def system_commands(spec: SystemSpec, q, k, v, placement: Placement) -> list[dict]:
    """Every device's SET_REGION, WRITE_KV, LOAD_Q and RUN (``dev`` set), then REDUCE.

    q : [G, d] pre-scaled query bits; k, v : [tokens, d] bits of one kv head."""
    cmds = []
    for dev, (d, parts) in enumerate(zip(spec.devices, _per_device(spec, placement))):
        tier = d.config()
        cmds += [{**c, "dev": dev} for c in device_commands(q, k, v, parts, d.banks, tier.lanes, spec.block(tier))]
    cmds.append({"op": REDUCE, "group": spec.group})
    return cmds


def system_golden(spec: SystemSpec, q, k, v, placement: Placement) -> np.ndarray:
    """[G, d] output bits of the bit-exact hardware model for this placement."""
    fmt, leaves = spec.format, []
    for d, parts in zip(spec.devices, _per_device(spec, placement)):
        tier = d.config()
        cfg = HwConfig(fmt, FP32, tier.lanes, spec.block(tier))
        leaves += [bank_partial(q, k[idx], v[idx], cfg) for idx in parts]
    top_tier = spec.devices[0].config()
    cfg = HwConfig(fmt, FP32, top_tier.lanes, spec.block(top_tier))
    return finalize(reduce_tree(placement.tree(), leaves, lambda ps: ru_merge(ps, cfg)), cfg)


def count_by_device(spec: SystemSpec, placement: Placement) -> list[list[int]]:
    """Tokens per bank, device by device."""
    return [[len(p) for p in parts] for parts in _per_device(spec, placement)]


@dataclasses.dataclass
class SystemRun:
    """One bench run of the system top (``sim/tb_system.py``)."""
    statuses: list[tuple[int, int]]           # (op, code) per command
    outputs: list[tuple[list[int], int]]      # (O/l bits per lane, error flags) per query head
    output_cycles: list[int]
    cycles: int
    activity: dict                            # "pu"/"ru": [first, last, cycles] per device (+ top RU)
    overlap: list[int]
    built_s: float
    wall_s: float
    vcd: str | None = None


def run_system(spec: SystemSpec, commands: list[dict], seed: int | None = None, reset_at: int = 0,
               waves: bool = False, limit: int = 10_000_000) -> SystemRun:
    """Build ``spec`` under Verilator (cached per configuration) and play ``commands`` into it."""
    system = spec.build()
    layout, out_layout = system.cmd.payload.shape(), system.out.payload.shape()
    words = [hex(pack_command(layout, c)) for c in commands]
    outputs = sum(int(c["group"]) for c in commands if c["op"] == REDUCE)
    build = build_design(system, "system", waves=waves, clock_ns=2, quick_compile=True)
    job = build.build_dir / "job.json"
    job.write_text(json.dumps({"commands": words, "outputs": outputs, "seed": seed, "reset_at": reset_at,
                               "limit": limit}))
    data = run_bench(build, "sim.tb_system", {"PAM_SYSTEM_JOB": job}, waves=waves)
    statuses = []
    for raw in data["statuses"]:
        st = STATUS_LAYOUT.from_bits(raw)
        statuses.append((int(st.op), int(st.code)))
    results = []
    for word in data["outputs"]:
        out = out_layout.from_bits(int(word, 16))
        results.append(([int(x) for x in out.o], int(out.error)))
    vcd = str(build.build_dir / "dump.vcd") if waves else None
    return SystemRun(statuses, results, data["output_cycles"], data["cycles"], data["activity"], data["overlap"],
                     build.built_s, data["wall_s"], vcd)


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
        act, n = self.run.activity, len(self.spec.devices)
        devices = []
        for d, dev in enumerate(self.spec.devices):
            pu, ru = act["pu"][d], act["ru"][d]
            devices.append({"tier": dev.tier, "shape": f"{dev.bank_groups}x{dev.banks}",
                            "tokens": int(sum(count_by_device(self.spec, self.placement)[d])),
                            "pu_first": pu[0], "pu_last": pu[1], "pu_span": pu[1] - pu[0] + 1 if pu[0] is not None
                            else 0, "ru_busy": ru[2], "ru_overlapping_pu": self.run.overlap[d]})
        starts = [d["pu_first"] for d in devices if d["pu_first"] is not None]
        ends = [d["pu_last"] for d in devices if d["pu_last"] is not None]
        last_out = max(self.run.output_cycles)
        first = min(starts) if starts else last_out
        attention = last_out - first + 1
        tail = last_out - max(ends) if ends else attention
        ru_busy = sum(d["ru_busy"] for d in devices) + act["ru"][n][2]
        ru_overlap = sum(d["ru_overlapping_pu"] for d in devices) + self.run.overlap[n]
        return {"devices": devices, "attention_cycles": attention, "tail_cycles": tail,
                "tail_fraction": tail / attention, "ru_busy": ru_busy, "ru_overlapping_pu": ru_overlap,
                "ru_overlap_fraction": ru_overlap / ru_busy if ru_busy else 0.0, "total_cycles": self.run.cycles}


def system_step(spec: SystemSpec, trace, placement: Placement, kv_head: int = 0, step: int = 0,
                seed: int | None = None, reset_at: int = 0, waves: bool = False) -> SystemStep:
    """Place the first ``placement.tokens`` tokens of the step's context, run the step on the system top
    under Verilator, and compare with the golden model and the float64 reference."""
    fmt = spec.format
    if trace.fmt.name != fmt.name or trace.head_dim != spec.head_dim or trace.group != spec.group:
        raise ValueError(f"trace is {trace.fmt.name}, head_dim {trace.head_dim}, group {trace.group}; the system "
                         f"is {fmt.name}, head_dim {spec.head_dim}, group {spec.group}")
    if placement.tokens > trace.context(step):
        raise ValueError(f"placement has {placement.tokens} tokens; step {step} has only {trace.context(step)}")
    heads = slice(kv_head * spec.group, (kv_head + 1) * spec.group)
    n = placement.tokens
    q = prescale_query(trace.q[step, heads], fmt)
    k, v = trace.k[:n, kv_head].astype(np.int64), trace.v[:n, kv_head].astype(np.int64)
    run = run_system(spec, system_commands(spec, q, k, v, placement), seed=seed, reset_at=reset_at, waves=waves)
    want = system_golden(spec, q, k, v, placement) if n else None     # over no tokens: only the empty flag
    got = [o for o, _ in run.outputs]
    ok_status = all(code == 0 for _, code in run.statuses)
    bit_exact = ok_status and want is not None and got == [[int(x) for x in row] for row in want]
    ref = decode_attention(fmt.to_float(trace.q[step, heads]), fmt.to_float(trace.k[:n, kv_head:kv_head + 1]),
                           fmt.to_float(trace.v[:n, kv_head:kv_head + 1])) if n else None
    err = attention_error(fmt.to_float(np.array(got)), ref)["max_rel_err"] if n else 0.0
    return SystemStep(spec, placement, run, want, bit_exact, all(e == 0 for _, e in run.outputs), err,
                      attention_bound(fmt, FP32))
