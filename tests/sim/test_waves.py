"""pam waves on Amaranth and Verilator VCDs: names, cycles, signed values, windows, pictures, errors."""

import json

import pytest
from amaranth import Module, Signal, signed
from amaranth.sim import Simulator

from sim.cli import main
from sim.waves import WaveError, draw_png, format_table, labels, load_waves, radix_chooser, show_value


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
                                          ({"signals": "count,pu.phase"}, "--signals: 'pu.phase' matches none"),
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
def test_sim_bank_then_waves_on_verilator_vcd(tmp_path, capsys, run_hint):
    vcd = tmp_path / "bank.vcd"
    assert main(["sim", "bank", "--rows", "8", "--reads", "300", "--load", "64", "--wave-file", str(vcd),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["checksum_ok"] and report["beats"] == 300
    run_hint(report["waves_hint"])
    assert_vcdvcd_agrees(vcd)
    names = [line.split()[4] for line in vcd.read_text().splitlines() if line.lstrip().startswith("$var")]
    assert names and not [n for n in names if ".cc:" in n]       # GTKWave 3.3 refuses such a name, and the file
    assert 0.6 < report["utilisation"] < 0.8
    w = load_waves(vcd, signals="dut.bank.cmd,dut.bank.cmd_row")
    cmd = w.values[0]
    assert w.names[0].endswith("dut.bank.cmd") and w.widths == [3, w.widths[1]]
    first_act = cmd.index(1)                      # ACT, then tRCD = 19 cycles to the first WR (4)
    assert cmd.index(4) - first_act == 19
    assert main(["waves", str(vcd), "--signals", "dut.bank.cmd", "--from", "0", "--to", "60",
                 "--png", str(tmp_path / "w.png")]) == 0
    assert (tmp_path / "w.png").stat().st_size > 2000


FOUR_STATE_VCD = """$timescale 1ns $end
$scope module top $end
$var wire 1 ! clk $end
$var wire 4 " bus [3:0] $end
$var wire 1 # en $end
$scope module dut $end
$var wire 4 $ bus [3:0] $end
$var wire 8 % pu_active [7:0] $end
$upscope $end
$upscope $end
$enddefinitions $end
#0
0!
b1010 "
1#
b0 $
b101 %
#5
1!
#10
0!
#12
bxxxx "
z#
#15
1!
#20
0!
"""


def test_unknown_bits_labels_radix_and_ellipsis(tmp_path):
    path = tmp_path / "four.vcd"
    path.write_text(FOUR_STATE_VCD)
    w = load_waves(path, signals="top.bus,en,dut.bus,pu_active")
    assert labels(w.names) == ["top.bus", "en", "dut.bus", "pu_active"]     # bus alone would be ambiguous
    assert [v[0] for v in w.values] == [10, 1, 0, 5]
    assert [v[1] for v in w.values] == ["x", "z", 0, 5]
    table = format_table(w, "*active=bin,*=hex")
    assert table[0].split() == ["cycle", "ns", "top.bus", "en", "dut.bus", "pu_active"]
    assert table[2].split()[2:] == ["0xa", "0x1", "0x0", "0b00000101"]
    assert table[3].split()[2:] == ["x", "z", "0x0", "0b00000101"]
    assert show_value(0xABCDEF0123, 40, "hex") == "0xabcdef0123"
    assert show_value(0xABCDEF0123, 40, "hex", 6) == "0xabc…"
    assert show_value(5, 4, "bin") == "0b0101" and show_value(5, 4, "dec") == "5" and show_value("x", 4, "bin") == "x"
    with pytest.raises(WaveError, match="--radix 'oct': 'oct' is not one of auto, bin, hex, dec"):
        radix_chooser("oct")
    png = draw_png(w, tmp_path / "four.png", radix="*active=bin")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_gtkwave_save_file_has_the_signals_grouped_by_scope_in_their_radix(tmp_path, capsys):
    path = tmp_path / "four.vcd"
    path.write_text(FOUR_STATE_VCD)
    gtkw = tmp_path / "four.gtkw"
    assert main(["waves", str(path), "--signals", "top.bus,en,pu_active", "--radix", "*active=bin,*bus=hex",
                 "--gtkw", str(gtkw)]) == 0
    assert f"GTKWave save file -> {gtkw}" in capsys.readouterr().out
    lines = gtkw.read_text().splitlines()
    assert lines[0] == f'[dumpfile] "{path.resolve()}"'
    assert lines[6:] == ["@800200", "-top", "@22", "top.bus[3:0]", "@24", "top.en", "@1000200", "-top",
                         "@800200", "-top.dut", "@28", "top.dut.pu_active[7:0]", "@1000200", "-top.dut"]


def test_the_save_file_opens_where_the_picture_looks(counter_vcd, tmp_path):
    """GTKWave starts the view at the window's first cycle, shows its length across the wave area
    (2**-zoom time units per 200 pixels, as GTKWave's calczoom() reads it; seen in GTKWave 3.3.118 under Xvfb),
    and puts the marker on the cycle asked for."""
    from sim.waves import GTKW_PIXELS_PER_FRAME, GTKW_WAVE_PIXELS, write_gtkw

    w = load_waves(counter_vcd, signals="count", first=6, last=15)
    lines = write_gtkw(w, tmp_path / "c.gtkw", marker=9).read_text().splitlines()
    fields = dict(line[1:].split("] ", 1) for line in lines if line.startswith("["))
    view = next(line for line in lines if line.startswith("*")).split()
    unit_ns = w.timescale_ns
    start_ns = int(fields["timestart"]) * unit_ns
    assert abs(start_ns - 6 * 10.0) <= 10.0 / 2                      # cycle 6 starts at rising edge 6
    shown_ns = 2 ** -float(view[0].lstrip("*")) / GTKW_PIXELS_PER_FRAME * GTKW_WAVE_PIXELS * unit_ns
    assert abs(shown_ns / (10 * 10.0) - 1) < 1e-5                      # ten cycles across the wave area
    assert abs(int(view[1]) * unit_ns - 9 * 10.0) <= 10.0 / 2          # the marker on cycle 9


def assert_vcdvcd_agrees(vcd) -> None:
    """vcdvcd, an independent VCD reader, gives every traced port of the DUT the same value as pywellen (through
    load_waves) at every sampled cycle: the wave file says what the tables and pictures show."""
    import re

    from vcdvcd import VCDVCD

    waves = load_waves(vcd)                                       # the top-level ports, every cycle
    second = VCDVCD(str(vcd))
    unit_ns = float(second.timescale["timescale"]) * 1e9
    by_name = {re.sub(r"\[\d+:\d+\]$", "", ref): ref for ref in second.references_to_ids}
    assert len(waves.names) >= 8 and len(waves.cycles) > 300
    for name, width, values in zip(waves.names, waves.widths, waves.values):
        signal = second[by_name[name]]
        for time_ns, value in zip(waves.times_ns, values):
            raw = signal[int(round(time_ns / unit_ns))]
            theirs = "x" if "x" in raw.lower() else "z" if "z" in raw.lower() else int(raw, 2)
            assert theirs == value, f"{name} at {time_ns} ns: vcdvcd {raw!r}, pywellen {value!r}"
