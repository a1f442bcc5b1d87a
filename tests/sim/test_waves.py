"""pam waves on Amaranth and Verilator VCDs: names, cycles, signed values, windows, pictures, errors."""

import json

import pytest
from amaranth import Module, Signal, signed
from amaranth.sim import Simulator

from sim.cli import main
from sim.waves import WaveError, load_waves


@pytest.fixture(scope="module")
def counter_vcd(tmp_path_factory):
    """An Amaranth VCD: an 8-bit counter, a signed countdown from 3, and a 40-bit wide value."""
    m = Module()
    count = Signal(8, name="count")
    down = Signal(signed(6), name="down", init=3)
    wide = Signal(40, name="wide")
    m.d.sync += [count.eq(count + 1), down.eq(down - 1), wide.eq((count << 32) | 0xABCD)]
    sim = Simulator(m)
    sim.add_clock(1e-8)

    async def bench(ctx):
        await ctx.tick().repeat(20)
    sim.add_testbench(bench)
    path = tmp_path_factory.mktemp("vcd") / "counter.vcd"
    with sim.write_vcd(str(path)):
        sim.run()
    return path


def test_cycle_values_and_time_scale(counter_vcd):
    w = load_waves(counter_vcd, signals="count,down,wide", signed="down")
    col = {n.split(".")[-1]: v for n, v in zip(w.names, w.values)}
    n = len(w.cycles)
    assert n >= 19
    # Cycle k is after rising edge k: the counter has counted k + 1 edges.
    assert col["count"][:n] == list(range(1, n + 1))
    assert col["down"][:8] == [2, 1, 0, -1, -2, -3, -4, -5]   # sign-extended from 6 bits
    assert col["wide"][2] == (2 << 32) | 0xABCD
    assert abs((w.times_ns[1] - w.times_ns[0]) - 10.0) < 1e-6  # 100 MHz clock: 10 ns per cycle


def test_window_and_unsigned_default(counter_vcd):
    w = load_waves(counter_vcd, signals="down", first=5, last=7)
    assert w.cycles == [5, 6, 7] and w.values[0] == [61, 60, 59]   # -3, -4, -5 as raw 6-bit values


def test_cli_table_json_and_png(counter_vcd, tmp_path, capsys):
    png = tmp_path / "w.png"
    assert main(["waves", str(counter_vcd), "--signals", "count", "--from", "2", "--to", "4",
                 "--png", str(png), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["values"][data["signals"][0]["name"]] for c in data["cycles"]] == [3, 4, 5]
    assert png.stat().st_size > 2000 and png.read_bytes()[:4] == b"\x89PNG"
    assert main(["waves", str(counter_vcd), "--signals", "count", "--to", "1"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].split() == ["cycle", "ns", "count"] and text[2].split()[2] == "1"


@pytest.mark.parametrize("kwargs,match", [({"signals": "nothing_like_this"}, "matches none"),
                                          ({"clock": "clk2"}, "no clock signal named 'clk2'"),
                                          ({"first": 5, "last": 2}, "empty or negative"),
                                          ({"first": 10_000}, "past the last cycle")])
def test_bad_selections(counter_vcd, kwargs, match):
    with pytest.raises(WaveError, match=match):
        load_waves(counter_vcd, **kwargs)


def test_bad_files(tmp_path):
    with pytest.raises(WaveError, match="no such file"):
        load_waves(tmp_path / "none.vcd")
    bad = tmp_path / "bad.vcd"
    bad.write_text("$timescale 1ns $end\n$enddefinitions $end\n")
    with pytest.raises(WaveError, match="declares no signals"):
        load_waves(bad)


@pytest.mark.verilator
def test_sim_bank_then_waves_on_verilator_vcd(tmp_path, capsys):
    vcd = tmp_path / "bank.vcd"
    assert main(["sim", "bank", "--rows", "8", "--reads", "300", "--load", "64", "--wave-file", str(vcd),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["checksum_ok"] and report["beats"] == 300
    assert 0.6 < report["utilisation"] < 0.8
    w = load_waves(vcd, signals="dut.bank.cmd,dut.bank.cmd_row")
    cmd = w.values[0]
    assert w.names[0].endswith("dut.bank.cmd") and w.widths == [3, w.widths[1]]
    first_act = cmd.index(1)                      # ACT, then tRCD = 19 cycles to the first WR (4)
    assert cmd.index(4) - first_act == 19
    assert main(["waves", str(vcd), "--signals", "dut.bank.cmd", "--from", "0", "--to", "60",
                 "--png", str(tmp_path / "w.png")]) == 0
    assert (tmp_path / "w.png").stat().st_size > 2000
