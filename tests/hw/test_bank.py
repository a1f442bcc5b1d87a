"""The DRAM bank model under amaranth.sim: data, every timing constraint, the streaming formula, refresh."""

import dataclasses

import pytest

from hw.bank import Bank, Command
from hw.tierconfig import load_tier
from sim.runs.bank_timing import check_commands, streaming_figures
from sim.pysim.streams import pattern, put, run


def run_bank(tier, requests, ready=None, extra_cycles=200):
    """Drive ``requests`` (write, row, col, data) in order; return (trace, read beats, counters, cycles)."""
    dut = Bank(tier)
    trace, beats, counters, done = [], [], {}, []
    ready = ready or pattern("always")

    async def producer(ctx):
        await put(ctx, dut.req, [{"write": w, "row": r, "col": c, "data": d} for w, r, c, d in requests])
        done.append(True)

    async def monitor(ctx):
        cycle = 0
        expected_reads = sum(1 for r in requests if not r[0])
        idle = 0
        while idle < extra_cycles:
            take = next(ready)
            ctx.set(dut.rdata.ready, take)
            _, _, cmd, row, col, valid, payload = await ctx.tick().sample(
                dut.cmd, dut.cmd_row, dut.cmd_col, dut.rdata.valid, dut.rdata.payload)
            if cmd != Command.NOP:
                trace.append((cycle, int(cmd), int(row), int(col)))
            if valid and take:
                beats.append(int(payload))
            cycle += 1
            idle = idle + 1 if done and len(beats) == expected_reads else 0
        for name in ("reads", "writes", "activates", "precharges", "refreshes", "read_bus_cycles"):
            counters[name] = ctx.get(getattr(dut, name))
        counters["cycles"] = cycle

    run(dut, producer, monitor)
    return trace, beats, counters


def small(tier_name, rows=16, **timing):
    tier = load_tier(tier_name).with_rows(rows)
    if timing:
        tier = dataclasses.replace(tier, timing=dataclasses.replace(tier.timing, **timing))
    return tier


@pytest.mark.parametrize("tier_name", ["hbm3", "ddr4"])
@pytest.mark.parametrize("backpressure", [False, True])
def test_random_accesses_return_written_data_within_timing(tier_name, backpressure, rng, seed):
    tier = small(tier_name, rows=8, tREFI=900, tRFC=60)      # frequent refresh: exercised often
    geo = tier.geometry
    cols = geo.columns_per_row
    cells = [(int(r), int(c)) for r, c in zip(rng.integers(0, 8, 40), rng.integers(0, cols, 40))]
    cells = list(dict.fromkeys(cells))
    values = {cell: int(rng.integers(0, 1 << 62)) << (geo.column_bits - 62) | i for i, cell in enumerate(cells)}
    writes = [(1, r, c, values[r, c]) for r, c in cells]
    reads = [(0, r, c, 0) for r, c in (cells[i] for i in rng.integers(0, len(cells), 120))]
    trace, beats, counters = run_bank(tier, writes + reads,
                                      ready=pattern("random", seed) if backpressure else None)
    assert beats == [values[r, c] for _, r, c, _ in reads]
    assert check_commands(trace, tier.timing, end_cycle=counters["cycles"]) == []
    assert counters["reads"] == len(reads) and counters["writes"] == len(writes)
    assert counters["read_bus_cycles"] == len(reads) * tier.timing.tBL
    assert counters["refreshes"] >= counters["cycles"] // tier.timing.tREFI - 1 and counters["refreshes"] > 0


@pytest.mark.parametrize("tier_name,reads", [("hbm3", 256), ("ddr4", 512)])
def test_streaming_reads_follow_the_formula_exactly(tier_name, reads):
    tier = small(tier_name, rows=8)
    cols = tier.geometry.columns_per_row
    requests = [(0, i // cols, i % cols, 0) for i in range(reads)]
    trace, beats, counters = run_bank(tier, requests)
    fig = streaming_figures(reads, tier.timing, tier.geometry)
    assert fig.cycles < tier.timing.tREFI         # the window holds no refresh
    t0 = trace[0][0]
    assert trace[0][1] == Command.ACT
    rd_cycles = [c - t0 for c, cmd, _, _ in trace if cmd == Command.RD]
    p = tier.timing.column_period
    expected = [(i // cols) * fig.row_period + tier.timing.tRCD + (i % cols) * p for i in range(reads)]
    assert rd_cycles == expected
    assert counters["read_bus_cycles"] == reads * tier.timing.tBL
    assert check_commands(trace, tier.timing) == []


def test_long_stream_with_refresh_stays_near_the_limit():
    tier = small("hbm3", rows=64, tREFI=1500, tRFC=140)   # HBM3 shape, refresh 3.4x as often: short sim
    cols = tier.geometry.columns_per_row
    reads = 40 * cols
    trace, _, counters = run_bank(tier, [(0, (i // cols) % 64, i % cols, 0) for i in range(reads)], extra_cycles=40)
    fig = streaming_figures(reads, tier.timing, tier.geometry)
    busy = counters["read_bus_cycles"] / counters["cycles"]
    assert check_commands(trace, tier.timing, end_cycle=counters["cycles"]) == []
    assert counters["refreshes"] >= counters["cycles"] // tier.timing.tREFI - 1
    assert abs(busy - fig.utilisation_limit) < 0.03, (busy, fig)


def test_checker_catches_violations():
    t = load_tier("hbm3").timing
    bad = [(0, Command.ACT, 3, 0), (10, Command.RD, 3, 0), (12, Command.RD, 3, 1), (20, Command.PRE, 0, 0),
           (25, Command.ACT, 4, 0), (200, Command.RD, 5, 0)]
    found = check_commands(bad, t)
    assert any("needs tRCD = 19" in v for v in found)
    assert any("needs max(tCCD_L, tBL) = 4" in v for v in found)
    assert any("needs tRAS = 45" in v for v in found)
    assert any("needs tRP = 19" in v for v in found)
    assert any("open row is 4" in v for v in found)
    assert check_commands([(0, Command.NOP, 0, 0)], t, end_cycle=3 * t.tREFI)[-1].startswith("end")


def test_config_errors_name_the_field(tmp_path):
    text = (load_tier.__globals__["resources"].files("hw") / "configs" / "hbm3.toml").read_text()
    for old, new, match in (("tRCD = 19", "tRCD = 0", "timing.tRCD: must be a positive integer"),
                            ("tRCD = 19", "", "timing.tRCD missing"),
                            ("tRCD = 19", "tRCD = 19\ntXYZ = 3", "timing.tXYZ is not a known parameter"),
                            ("lanes = 16", "lanes = 8", "pu.lanes 8 does not match"),
                            ("kv_fifo_columns = 32", "kv_fifo_columns = -1", "pu.kv_fifo_columns must be a whole"),
                            ("kv_fifo_columns = 32", "kv_fifo_columns = 1.5", "pu.kv_fifo_columns must be a whole"),
                            ("kv_fifo_columns = 32", "kv_fifo_colums = 32", "pu.kv_fifo_colums is not a known"),
                            ("tREFI = 5070", "tREFI = 100", "leaves no time between refreshes")):
        path = tmp_path / "bad.toml"
        path.write_text(text.replace(old, new, 1))
        with pytest.raises(ValueError, match=match):
            load_tier(path)
    with pytest.raises(ValueError, match="unknown tier 'lpddr'"):
        load_tier("lpddr")


@pytest.mark.verilator
@pytest.mark.parametrize("tier_name", ["hbm3", "ddr4"])
def test_verilator_stream_matches_the_timing_limit(tier_name, seed, capsys):
    """Long read streams under Verilator (clock in HDL): data intact, utilisation at the formula's limit."""
    import json

    from sim.cli import main
    assert main(["sim", "bank", "--tier", tier_name, "--rows", "64", "--reads", "30000", "--load", "2048",
                 "--seed", str(seed), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["checksum_ok"] and report["beats"] == 30000
    assert report["refreshes"] >= report["cycles"] // load_tier(tier_name).timing.tREFI - 1
    assert abs(report["utilisation"] - report["utilisation_limit"]) < 0.02, report
