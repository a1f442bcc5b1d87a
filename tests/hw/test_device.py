"""Device top under amaranth.sim: bank-group and device RUs over per-bank PUs, bit-exact to the golden tree."""

import dataclasses

import numpy as np
import pytest

from golden.formats import BF16, FP16, FP32
from golden.hwmodel import HwConfig, bank_partial, block_tokens_for, prescale_query, ru_merge
from golden.pamattention import reduce_tree
from hw.device import Device, Op, Status
from hw.tierconfig import load_tier
from host.commands import device_commands
from sim.pysim.device import run_device
from sim.pysim.streams import pattern
from golden.traces.format import generate_trace

HEAD_DIM, GROUPS, BANKS = 16, 2, 2


def small_device(fmt, max_group=2, requests=2, groups=GROUPS, banks=BANKS):
    tier = load_tier("ddr4").with_rows(2)
    block = block_tokens_for(tier.buffer_bytes, FP32, max_group)
    return Device(tier, fmt, FP32, HEAD_DIM, max_group, block, groups, banks, requests), tier, block


def small_ssd_device(fmt, tR=60):
    """An SSD device (1 channel x 2 dies) narrowed to 4 lanes, 8-column pages and a short tR for amaranth.sim."""
    tier = load_tier("ssd").with_rows(4)
    tier = dataclasses.replace(tier, lanes=4, timing=dataclasses.replace(tier.timing, tR=tR),
                               geometry=dataclasses.replace(tier.geometry, column_bits=64, columns_per_row=8))
    block = block_tokens_for(tier.buffer_bytes, FP32, 2)
    return Device(tier, fmt, FP32, HEAD_DIM, 2, block, 1, 2, 1), tier, block


def golden_device(q, k, v, partitions, cfg, groups=GROUPS, banks=BANKS):
    leaves = [bank_partial(q, k[idx], v[idx], cfg) for idx in partitions]
    tree = tuple(tuple(range(g * banks, (g + 1) * banks)) for g in range(groups))
    top = reduce_tree(tree, leaves, lambda parts: ru_merge(parts, cfg))
    return [(int(top.m[g]), int(top.l[g]), [int(x) for x in top.o[g]]) for g in range(len(q))]


def case(fmt, counts, seed, group=2):
    tr = generate_trace(tokens=max(sum(counts), 1), q_heads=group, kv_heads=1, head_dim=HEAD_DIM,
                        dtype=fmt.name, dist="heavy", seed=seed)
    q = prescale_query(tr.q[0], fmt)
    k, v = tr.k[:, 0].astype(np.int64), tr.v[:, 0].astype(np.int64)
    bounds = np.cumsum([0, *counts])
    return q, k, v, [np.arange(bounds[i], bounds[i + 1]) for i in range(len(counts))]


@pytest.mark.parametrize("fmt,counts", [(FP16, [3, 2, 2, 1]), (FP16, [0, 0, 5, 0]), (FP16, [0, 0, 0, 0]),
                                        (BF16, [1, 0, 0, 0]), (BF16, [2, 3, 0, 1])],
                         ids=lambda x: x.name if hasattr(x, "name") else "-".join(map(str, x)))
def test_device_matches_golden_tree(fmt, counts, seed):
    """Lopsided, one-token, and empty placements; random back-pressure on the device output."""
    dev, tier, block = small_device(fmt)
    q, k, v, parts = case(fmt, counts, seed)
    cmds = device_commands(q, k, v, parts, BANKS, tier.lanes, block, base=1)
    statuses, got, _ = run_device(dev, cmds, expect_parts=len(q), part_ready=pattern("random", seed))
    assert all(code == Status.OK for _, code in statuses), statuses
    assert got == golden_device(q, k, v, parts, HwConfig(fmt, FP32, tier.lanes, block)), f"seed {seed}"


def test_bank_group_ru_folds_its_banks_in_bank_order(seed):
    """Three banks in one group: a fold of 3 partials depends on their order (2 would not: the merge of
    the identity and a is a, and a merge of two is symmetric), so this catches a mux that reorders banks."""
    dev, tier, block = small_device(FP16, groups=1, banks=3)
    q, k, v, parts = case(FP16, [2, 3, 1], seed)
    statuses, got, _ = run_device(dev, device_commands(q, k, v, parts, 3, tier.lanes, block), expect_parts=len(q))
    assert all(code == Status.OK for _, code in statuses), statuses
    cfg = HwConfig(FP16, FP32, tier.lanes, block)
    assert got == golden_device(q, k, v, parts, cfg, groups=1, banks=3), f"seed {seed}"


def test_bad_commands_are_rejected_and_another_requests_kv_is_never_read(seed):
    """Request 1's RUN would reach into request 0's columns: rejected, and nothing runs."""
    dev, tier, block = small_device(FP16)
    q, k, v, parts = case(FP16, [2, 1, 1, 1], seed)
    cmds = device_commands(q, k, v, parts, BANKS, tier.lanes, block, req=0, base=0)
    span = cmds[0]["limit"]
    capacity = tier.geometry.rows * tier.geometry.columns_per_row
    bad = [
        {"op": Op.SET_REGION, "req": 1, "addr": span, "limit": span + 8},            # ok: next to request 0
        {"op": Op.RUN, "req": 1, "group": 2, "counts": [1, 0, 0, 0]},                  # 8 columns: fits
        {"op": Op.RUN, "req": 1, "group": 2, "counts": [2, 0, 0, 0]},                  # 16 columns: beyond
        {"op": Op.WRITE_KV, "req": 1, "bg": 0, "bank": 0, "addr": 0, "data": 7},      # request 0's column
        {"op": Op.WRITE_KV, "req": 0, "bg": GROUPS, "bank": 0, "addr": 0, "data": 7},  # no such bank group
        {"op": Op.WRITE_KV, "req": 5, "bg": 0, "bank": 0, "addr": 0, "data": 7},      # no such request slot
        {"op": Op.SET_REGION, "req": 1, "addr": 0, "limit": capacity + 1},            # beyond the bank
        {"op": Op.LOAD_Q, "addr": 2},                                                  # head beyond max_group
        {"op": Op.RUN, "req": 0, "group": 3, "counts": [1, 0, 0, 0]},                  # group beyond max
        {"op": 7},
    ]
    want = [Status.OK, Status.OK, Status.OUT_OF_REGION, Status.OUT_OF_REGION, Status.OUT_OF_DEVICE,
            Status.OUT_OF_DEVICE, Status.BAD_REGION, Status.OUT_OF_DEVICE, Status.OUT_OF_DEVICE, Status.BAD_OP]
    # Request 0 loads and runs; then the bad commands; then request 0 runs again and must be unchanged.
    statuses, got, _ = run_device(dev, cmds + bad + [cmds[-1]], expect_parts=3 * len(q))
    codes = [code for _, code in statuses]
    assert all(c == Status.OK for c in codes[:len(cmds)])
    assert codes[len(cmds):-1] == want
    expect = golden_device(q, k, v, parts, HwConfig(FP16, FP32, tier.lanes, block))
    assert got[:2] == expect and got[-2:] == expect
    # Request 1's accepted run saw only its own (empty, zero) columns: a partial over one all-zero token.
    zero = golden_device(q, np.zeros_like(k), np.zeros_like(v), [np.arange(1), *[np.arange(0)] * 3],
                         HwConfig(FP16, FP32, tier.lanes, block))
    assert got[2:4] == zero


def test_device_parameter_errors():
    tier = load_tier("ddr4").with_rows(2)
    with pytest.raises(ValueError, match="bank_groups"):
        Device(tier, FP16, FP32, HEAD_DIM, 1, 4, 0, 2)


def test_ssd_device_reads_pages_through_its_channel_and_matches_golden(seed):
    """Flash dies behind the controller's PUs: 3 and 2 tokens (8 columns each) span several 8-column pages,
    so each die reads pages of tR; the result is the golden tree's, and the run takes at least a page read
    per page of the fuller die."""
    dev, tier, block = small_ssd_device(FP16)
    counts = [3, 2]
    q, k, v, parts = case(FP16, counts, seed)
    cmds = device_commands(q, k, v, parts, 2, tier.lanes, block)
    statuses, got, cycles = run_device(dev, cmds, expect_parts=len(q), part_ready=pattern("random", seed))
    assert all(code == Status.OK for _, code in statuses), statuses
    assert got == golden_device(q, k, v, parts, HwConfig(FP16, FP32, tier.lanes, block), groups=1, banks=2), \
        f"seed {seed}"
    pages = -(-2 * (HEAD_DIM // 4) * max(counts) // 8)
    assert cycles > pages * tier.timing.tR
