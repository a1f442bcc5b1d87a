"""System top under amaranth.sim: two devices, the inter-device RU and the division, bit-exact.

amaranth.sim is too slow for an HBM PU (W = 16, head_dim >= 64) in a whole
system, so the fast suite builds the system from two DDR-tier devices of
different shapes (W = 4, head_dim 16); the top's logic does not depend on the
tier.
"""

import random

import numpy as np
import pytest
from amaranth.hdl import Shape
from amaranth.lib import data

from golden.formats import BF16, FP16, FP32
from golden.hwmodel import HwConfig, bank_partial, block_tokens_for, finalize, prescale_query, ru_merge
from golden.pamattention import reduce_tree
from golden.placement import Placement, TierShape
from golden.reference import decode_attention
from golden.accuracy import attention_bound, attention_error
from hw.device import Device, Op, Status
from hw.normalize import ERROR_EMPTY
from hw.system import System
from hw.tierconfig import load_tier
from host.commands import CommandPacker, command_fields, device_commands
from sim.pysim.device import run_device, unpack_output
from sim.pysim.streams import pattern
from sim.verilator.separate import silence_unused
from golden.traces.format import generate_trace

HEAD_DIM, GROUP = 16, 2
SHAPES = [("ddr4", 1, 2), ("ddr4", 2, 1)]           # tier, bank groups, banks


def build(fmt):
    tiers, devices = [], []
    for name, groups, banks in SHAPES:
        tier = load_tier(name).with_rows(2)
        block = block_tokens_for(tier.buffer_bytes, FP32, GROUP)
        tiers.append((tier, block))
        devices.append(Device(tier, fmt, FP32, HEAD_DIM, GROUP, block, groups, banks, requests=1))
    return System(devices, fmt, FP32, tiers[0][0].lanes, HEAD_DIM), tiers


def golden(fmt, tiers, q, k, v, placement):
    """Each bank's PU in its own tier's lanes and block size, then PAM's tree and one division."""
    banks_of = []
    for (tier, block), shape in zip(tiers, placement.tiers):
        banks_of += [HwConfig(fmt, FP32, tier.lanes, block)] * shape.banks_total
    leaves = [bank_partial(q, k[idx], v[idx], bank_cfg) for bank_cfg, idx in zip(banks_of, placement.partitions())]
    cfg = HwConfig(fmt, FP32, tiers[0][0].lanes, tiers[0][1])
    return finalize(reduce_tree(placement.tree(), leaves, lambda parts: ru_merge(parts, cfg)), cfg)


@pytest.mark.parametrize("fmt,coords", [
    (FP16, [(0, 0, 0, 0), (0, 0, 0, 1), (1, 0, 0, 0), (1, 0, 1, 0), (0, 0, 0, 0)]),   # every bank busy
    (BF16, [(1, 0, 1, 0)] * 3),                                                         # device 0 empty
], ids=["fp16-spread", "bf16-first-device-empty"])
def test_system_matches_golden_and_float64(fmt, coords, seed):
    system, tiers = build(fmt)
    tr = generate_trace(tokens=len(coords), q_heads=GROUP, kv_heads=1, head_dim=HEAD_DIM, dtype=fmt.name,
                        dist="heavy", seed=seed)
    placement = Placement(tuple(TierShape(n, 1, g, b) for n, g, b in SHAPES), np.array(coords))
    q = prescale_query(tr.q[0], fmt)
    k, v = tr.k[:, 0].astype(np.int64), tr.v[:, 0].astype(np.int64)
    parts = placement.partitions()
    cmds, first = [], 0
    for dev, ((tier, block), (_, groups, banks)) in enumerate(zip(tiers, SHAPES)):
        mine = parts[first:first + groups * banks]
        first += groups * banks
        cmds += [{**c, "dev": dev} for c in device_commands(q, k, v, mine, banks, tier.lanes, block)]
    cmds.append({"op": Op.REDUCE, "group": GROUP})
    statuses, out, _ = run_device(system, cmds, GROUP, part_ready=pattern("random", seed), output="out",
                                  unpack=unpack_output, limit=5000)
    assert [c for _, c in statuses] == [Status.OK] * len(cmds)
    want = golden(fmt, tiers, q, k, v, placement)
    assert [o for o, _ in out] == [[int(x) for x in row] for row in want], f"seed {seed}"
    assert all(e == 0 for _, e in out)
    ref = decode_attention(fmt.to_float(tr.q[0]), fmt.to_float(tr.k), fmt.to_float(tr.v))
    err = attention_error(fmt.to_float(np.array([o for o, _ in out])), ref)["max_rel_err"]
    assert err <= attention_bound(fmt, FP32), f"{err / fmt.eps:.2f} eps, seed {seed}"


def test_system_rejects_unknown_devices_and_flags_no_tokens():
    """Every device runs over no tokens: the top divides by l = 0 and flags it."""
    system, _ = build(FP16)
    empty = [{"dev": d, "op": Op.RUN, "req": 0, "group": 1, "counts": [0, 0]} for d in range(len(SHAPES))]
    cmds = [{"dev": 9, "op": Op.SET_REGION}, {"op": Op.REDUCE, "group": 0}, *empty, {"op": Op.REDUCE, "group": 1}]
    statuses, out, _ = run_device(system, cmds, 1, output="out", unpack=unpack_output, limit=2000)
    assert [c for _, c in statuses] == [Status.OUT_OF_DEVICE, Status.OUT_OF_DEVICE, Status.OK, Status.OK, Status.OK]
    assert out[0][1] == ERROR_EMPTY


def test_the_command_packer_gives_the_bits_of_amaranths_constant(seed):
    """Random commands over every field's full range (arrays too) on the system top's layout."""
    system, _ = build(FP16)
    silence_unused(system)                   # only its command layout is used
    layout = system.cmd.payload.shape()
    pack, rnd = CommandPacker(layout), random.Random(seed)

    def draw(shape):
        shape = Shape.cast(shape)
        lo = -(1 << shape.width - 1) if shape.signed else 0
        return rnd.randrange(lo, lo + (1 << shape.width))
    for _ in range(200):
        cmd = {}
        for name, field in layout:
            if isinstance(field.shape, data.ArrayLayout):
                cmd[name] = [draw(field.shape.elem_shape) for _ in range(rnd.randrange(field.shape.length + 1))]
            elif name != "op":
                cmd[name] = draw(field.shape)
        cmd["op"] = rnd.choice(list(Op))
        assert pack(cmd) == layout.const(command_fields(layout, cmd)).as_bits(), f"seed {seed}: {cmd}"
    with pytest.raises(ValueError, match="command field addr: -1 does not fit"):
        pack({"op": Op.SET_REGION, "addr": -1})
    with pytest.raises(ValueError, match=r"command field q\[1\]: .* does not fit"):
        pack({"op": Op.LOAD_Q, "q": [0, 1 << 40]})
