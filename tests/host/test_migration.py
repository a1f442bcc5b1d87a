"""Migration through PAM's interface: reorder, re-layout buffer, regions, time, payloads intact."""

from dataclasses import replace as dataclass_replace

import pytest

from host.mapping import Address, DeviceMapper, DeviceShape
from host.migration import Transfer, apply_migration, load_migration_config, plan_migration

TOKEN_BYTES = 2 * 128 * 2          # K and V rows of one kv head, head_dim 128, FP16
WIDTHS = {0: 16, 1: 16}            # columns per token in each tier's devices (as in mapper() below)


def mapper(tier):
    return DeviceMapper(DeviceShape(tier=tier, device=0, channels=2, bank_groups=2, banks=4, rows=64,
                                    columns_per_row=32, columns_per_token=16))


def transfers(n, rng):
    """n tokens scattered over an HBM device, moving to fresh slots in a DDR device."""
    hbm, ddr = mapper(0), mapper(1)
    src = {t: hbm.place(0, t) for t in range(4 * n)}
    moving = [int(t) for t in rng.choice(4 * n, n, replace=False)]   # scattered, in random order
    return [Transfer(t, src[t], ddr.place(0, t)) for t in moving]


def test_plan_counts_bytes_rows_and_regions(rng):
    trs = transfers(300, rng)
    (plan,) = plan_migration(trs, TOKEN_BYTES, WIDTHS)
    assert plan.link == "hbm_ddr" and plan.tokens == 300 and plan.bytes == 300 * TOKEN_BYTES
    assert plan.source_rows_reordered < plan.source_rows_in_order
    distinct_rows = len({(t.src.channel, t.src.bank_group, t.src.bank, t.src.row) for t in trs})
    assert plan.source_rows_reordered == distinct_rows
    buffer_tokens = load_migration_config()["migration"]["relayout_buffer_bytes"] // TOKEN_BYTES
    assert plan.batches == -(-300 // buffer_tokens)
    assert 1 <= plan.destination_regions < 300
    assert sorted(plan.order) == sorted(t.token for t in trs)


def test_interface_time_against_cpu_relayout(rng):
    (plan,) = plan_migration(transfers(500, rng), TOKEN_BYTES, WIDTHS)
    link = load_migration_config()["links"]["hbm_ddr"]
    expected = plan.bytes / (link["bandwidth_gb_s"] * 1e9) + plan.destination_regions * link["region_setup_ns"] * 1e-9
    assert plan.time_s == pytest.approx(expected)
    cpu = load_migration_config()["cpu_relayout"]
    per_token = link["region_setup_ns"] * 1e-9 + cpu["per_token_ns"] * 1e-9 + TOKEN_BYTES / (cpu["bandwidth_gb_s"] * 1e9)
    assert plan.cpu_time_s == pytest.approx(plan.bytes / (link["bandwidth_gb_s"] * 1e9) + 500 * per_token)
    print(f"500 tokens: interface {plan.time_s * 1e6:.1f} us, CPU re-layout {plan.cpu_time_s * 1e6:.1f} us "
          f"({plan.cpu_time_s / plan.time_s:.1f}x)")
    assert plan.cpu_time_s > plan.time_s


def test_payloads_move_bit_for_bit(rng):
    trs = transfers(200, rng)
    store = {t.src: rng.bytes(TOKEN_BYTES) for t in trs}
    digests = {t.token: hash(store[t.src]) for t in trs}
    plans = plan_migration(trs, TOKEN_BYTES, WIDTHS)
    assert apply_migration(store, trs, plans) == 200
    assert all(hash(store[t.dst]) == digests[t.token] for t in trs)
    assert not any(t.src in store for t in trs)


def test_bad_migrations_are_refused(rng):
    trs = transfers(5, rng)
    store = {t.src: b"x" * TOKEN_BYTES for t in trs[1:]}
    with pytest.raises(ValueError, match=f"token {trs[0].token}: no payload at its source"):
        apply_migration(store, trs, plan_migration(trs, TOKEN_BYTES, WIDTHS))
    a = Address(0, 0, 0, 0, 0, 0, 0)
    with pytest.raises(ValueError, match="token 3: source and destination are both in tier 0"):
        plan_migration([Transfer(3, a, a)], TOKEN_BYTES, WIDTHS)
    occupied = {trs[0].src: b"a", trs[0].dst: b"b"}
    with pytest.raises(ValueError, match=f"token {trs[0].token}: no columns_per_token for destination tier 1"):
        plan_migration(trs[:1], TOKEN_BYTES, {0: 16})
    with pytest.raises(ValueError, match="is occupied"):
        apply_migration(occupied, trs[:1], plan_migration(trs[:1], TOKEN_BYTES, WIDTHS))


def test_regions_follow_each_destination_tiers_stripe_width():
    """Two stripes 16 columns apart form one region where a token spans 16 columns, two where it spans 8."""
    src = Address(0, 0, 0, 0, 0, 0, 0)
    dst = [Address(1, 0, 0, 0, 0, 5, 0), Address(1, 0, 0, 0, 0, 5, 16)]
    trs = [Transfer(t, dataclass_replace(src, row=t), d) for t, d in enumerate(dst)]
    assert plan_migration(trs, TOKEN_BYTES, {1: 16})[0].destination_regions == 1
    assert plan_migration(trs, TOKEN_BYTES, {1: 8})[0].destination_regions == 2
