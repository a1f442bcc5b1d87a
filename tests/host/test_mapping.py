"""Intra-device mapping: stripes aligned across banks, requests apart, level-1 balance, freeing, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.mapping import DeviceMapper, DeviceShape


def shape(**kw):
    base = dict(tier=0, device=0, channels=2, bank_groups=2, banks=4, rows=4, columns_per_row=32,
                columns_per_token=16)
    return DeviceShape(**{**base, **kw})


def cell(a):
    return (a.channel, a.bank_group, a.bank, a.row, a.column)


def test_stripes_align_tokens_across_banks():
    m = DeviceMapper(shape(channels=1, bank_groups=1))
    addrs = [m.place(0, t) for t in range(8)]
    assert [a.bank for a in addrs] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert len({(a.row, a.column) for a in addrs[:4]}) == 1           # one stripe: same row and column
    assert (addrs[4].row, addrs[4].column) != (addrs[0].row, addrs[0].column)
    assert all(a.column % 16 == 0 for a in addrs)


def test_requests_never_share_a_stripe():
    m = DeviceMapper(shape())
    for t in range(10):
        m.place(0, t)
        m.place(1, t)
    stripes = {}
    for r in (0, 1):
        for t in range(10):
            a = m.address(r, t)
            stripes.setdefault((a.channel, a.bank_group, a.row, a.column), set()).add(r)
    assert all(len(owners) == 1 for owners in stripes.values())


def test_level1_avoids_the_busiest_group():
    m = DeviceMapper(shape(), window=3)
    first = [m.place(0, t) for t in range(4)]                # one token per group (ties: fewest held)
    assert sorted((a.channel, a.bank_group) for a in first) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    hot = next(a for a in first if (a.channel, a.bank_group) == (0, 0))
    hot_token = first.index(hot)
    for _ in range(3):
        m.record_step([(0, hot_token)])
    new = [m.place(0, t) for t in range(4, 7)]
    assert all((a.channel, a.bank_group) != (0, 0) for a in new)


def recency_workload_balance(seed, assign):
    """Mean max/mean activations per bank group over a recency + random-hit workload (4 groups).

    ``assign(t, mapper)`` places token t and returns nothing; activations go through ``mapper``.
    """
    rng = np.random.default_rng(seed)
    m = DeviceMapper(shape(rows=64), window=10)
    balances = []
    for t in range(400):
        assign(t, m)
        m.record_step([(0, x) for x in range(max(0, t - 7), t + 1)] + [(0, int(x)) for x in rng.integers(0, t + 1, 2)])
        if t > 50:
            balances.append(m.balance())
    return float(np.mean(balances))


def test_level1_balance_against_baselines(seed):
    """Each step attends to the 8 newest tokens plus 2 random ones; three level-1 policies side by side."""
    greedy = recency_workload_balance(seed, lambda t, m: m.place(0, t))

    round_robin = recency_workload_balance(seed, lambda t, m: m.place(0, t, group=t % 4))
    fill_first = recency_workload_balance(seed, lambda t, m: m.place(0, t, group=0))
    print(f"max/mean activations per bank group: greedy {greedy:.2f}, round-robin {round_robin:.2f}, "
          f"fill-first {fill_first:.2f}")
    assert fill_first == pytest.approx(4.0)
    assert greedy < 0.6 * fill_first


def test_free_request_releases_every_token_and_stripe():
    m = DeviceMapper(shape(channels=1, bank_groups=1, rows=1))      # 2 stripes x 4 banks = 8 slots
    for t in range(4):
        m.place(7, t)                                              # stripe 0
    m.place(8, 0)                                                  # stripe 1, shared with no one
    with pytest.raises(ValueError, match="is full"):
        m.place(9, 0)                                              # request 9 needs a stripe of its own
    assert m.free_request(7) == 4 and m.tokens_of(7) == []
    assert m.place(9, 0).bank == 0
    with pytest.raises(ValueError, match="request 7 holds no tokens"):
        m.free_request(7)


def test_errors_name_the_request_and_token():
    m = DeviceMapper(shape())
    m.place(1, 2)
    with pytest.raises(ValueError, match="request 1 token 2 is already placed"):
        m.place(1, 2)
    with pytest.raises(ValueError, match="request 1 token 3 is not placed"):
        m.address(1, 3)
    with pytest.raises(ValueError, match="activated request 4 token 0 is not placed"):
        m.record_step([(4, 0)])
    with pytest.raises(ValueError, match="does not fit in a row"):
        shape(columns_per_token=64)
    with pytest.raises(ValueError, match="group 4 out of range 0..3"):
        m.place(1, 9, group=4)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["place", "free"]), st.integers(0, 3)), max_size=120))
def test_live_tokens_never_share_a_cell(ops):
    m = DeviceMapper(shape(rows=2))
    next_token = {r: 0 for r in range(4)}
    live = {}
    for op, r in ops:
        if op == "place":
            try:
                a = m.place(r, next_token[r])
            except ValueError as exc:
                assert "is full" in str(exc)
                continue
            live[r, next_token[r]] = cell(a)
            next_token[r] += 1
        elif any(k[0] == r for k in live):
            m.free_request(r)
            live = {k: v for k, v in live.items() if k[0] != r}
        assert len(set(live.values())) == len(live)
        assert all(cell(m.address(*k)) == v for k, v in live.items())


def test_shape_from_the_rtl_tier_config():
    from hw.tierconfig import load_tier
    hbm = DeviceShape.from_tier(load_tier("hbm3"), tier=0, device=1, channels=16, bank_groups=4, banks=4,
                                token_bytes=2 * 128 * 2)
    assert (hbm.rows, hbm.columns_per_row, hbm.columns_per_token) == (16384, 32, 16)   # 512 B over 32 B columns
    ddr = DeviceShape.from_tier(load_tier("ddr4"), tier=1, device=0, channels=2, bank_groups=2, banks=4,
                                token_bytes=512)
    assert ddr.columns_per_token == 64 and ddr.capacity == 2 * 2 * 4 * 65536 * 2
    a = DeviceMapper(hbm).place(3, 0)
    assert a.tier == 0 and a.device == 1
