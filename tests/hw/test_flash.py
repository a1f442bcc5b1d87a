"""The flash die model under amaranth.sim: data, page reads of tR, the channel-share rate, back-pressure."""

import dataclasses
import math
from fractions import Fraction

import pytest

from hw.flash import FlashDie
from hw.tierconfig import load_tier
from sim.pysim.streams import pattern, put, run


def small_ssd(tR=40, rows=4, columns_per_row=8):
    tier = load_tier("ssd").with_rows(rows)
    return dataclasses.replace(tier, timing=dataclasses.replace(tier.timing, tR=tR),
                               geometry=dataclasses.replace(tier.geometry, columns_per_row=columns_per_row))


def run_die(tier, requests, sharers=1, ready=None, limit=20_000):
    """Drive (write, row, col, data) requests in order; return (read beats, cycle of each accepted read,
    counters)."""
    dut = FlashDie(tier, sharers)
    beats, read_cycles, counters = [], [], {}
    ready = ready or pattern("always")
    expected = sum(1 for r in requests if not r[0])

    async def producer(ctx):
        taken = await put(ctx, dut.req, [{"write": w, "row": r, "col": c, "data": d} for w, r, c, d in requests])
        read_cycles.extend(cycle for (write, *_), cycle in zip(requests, taken) if not write)

    async def consumer(ctx):
        for _ in range(limit):
            take = next(ready)
            ctx.set(dut.rdata.ready, take)
            _, _, valid, payload = await ctx.tick().sample(dut.rdata.valid, dut.rdata.payload)
            if valid and take:
                beats.append(int(payload))
            if len(beats) == expected and len(read_cycles) == expected:
                for name in ("reads", "writes", "activates", "refreshes", "read_bus_cycles"):
                    counters[name] = ctx.get(getattr(dut, name))
                return
        raise AssertionError(f"{len(beats)} of {expected} beats after {limit} cycles")

    run(dut, producer, consumer)
    return beats, read_cycles, counters


def test_reads_return_what_was_written_in_order_under_back_pressure(rng, seed):
    tier = small_ssd(tR=12)
    cells = [(row, col) for row in range(4) for col in range(8)]
    values = {cell: int(rng.integers(0, 2 ** 63)) << 100 | int(rng.integers(0, 2 ** 63)) for cell in cells}
    order = [cells[i] for i in rng.permutation(len(cells))]
    writes = [(1, r, c, values[(r, c)]) for r, c in cells]
    reads = [(0, r, c, 0) for r, c in order]
    beats, _, counters = run_die(tier, writes + reads, ready=pattern("random", seed))
    assert beats == [values[cell] for cell in order], f"seed {seed}"
    changes = 1 + sum(a[0] != b[0] for a, b in zip(order, order[1:]))
    assert counters["activates"] == changes and counters["reads"] == 32 and counters["writes"] == 32
    assert counters["refreshes"] == 0


@pytest.mark.parametrize("sharers", [1, 4])
def test_page_read_then_columns_at_the_channel_share_rate(sharers):
    """First column tR + 1 cycles after the page read starts; column n of a page ceil(n * cost/step)
    cycles after the page's first (the credit carries fractions over). tR is longer than a column's
    time, so the last column of a page has left the channel when the next page is ready."""
    tR, cols, pages = 80, 8, 3
    tier = small_ssd(tR=tR, rows=pages, columns_per_row=cols)
    per_column = Fraction(32 * 1000 * sharers, 2400)          # 32-byte column, 1 GHz, 2.4 GB/s channel
    assert tier.timing.column_cycles(256, tier.memory_mhz, sharers) == per_column
    reads = [(0, p, c, 0) for p in range(pages) for c in range(cols)]
    _, cycles, counters = run_die(tier, reads, sharers)
    start = 0                                                  # the page read starts in the first cycle
    for p in range(pages):
        first = start + tR + 1
        want = [first + math.ceil(n * per_column) for n in range(cols)]
        assert cycles[p * cols:(p + 1) * cols] == want, f"page {p}"
        start = want[-1] + 1                                   # the next page's request comes a cycle later
    assert counters["activates"] == pages
    busy = counters["read_bus_cycles"]
    # the share is busy a column time per column; counters are read before the last column's time is up
    assert abs(busy - pages * cols * per_column) <= per_column + pages * cols


def test_tiers_without_flash_timing_are_refused():
    with pytest.raises(ValueError, match="tier 'hbm3' has no \\[flash\\] timing"):
        FlashDie(load_tier("hbm3"))
    with pytest.raises(ValueError, match="sharers must be >= 1, not 0"):
        FlashDie(load_tier("ssd").with_rows(2), 0)


@pytest.mark.parametrize("edit,match", [
    (("tR = 30000", "tR = 0"), "flash.tR: must be a positive integer, not 0"),
    (("channel_bits = 8", "channel_bits = 12"), "flash.channel_bits: 12 is not a whole number of bytes"),
    (("dies_per_channel = 4", "dies_per_chanel = 4"), "flash.dies_per_channel missing"),
])
def test_flash_config_errors_name_the_field(tmp_path, edit, match):
    text = (load_tier.__globals__["resources"].files("hw") / "configs" / "ssd.toml").read_text()
    assert edit[0] in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(*edit))
    with pytest.raises(ValueError, match=match):
        load_tier(path)
