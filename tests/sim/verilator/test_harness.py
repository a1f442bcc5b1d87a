"""The job harness (sim/testbench/harness.py) on a small echo design under Verilator, and its plain C++ twin.

The echo design takes a 16-bit command; it answers every command with one status (the command's low byte)
and, for an odd command, one output word (command + 1), holding ``cmd.ready`` low while either is pending.
The expected log is computed here from the job, not read from the harness.
"""

import dataclasses
import random
import re

import pytest
from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from sim.testbench.harness import HarnessPorts, JobLog, Mismatch, Pauses, job_harness, parse_log, write_job
from sim.testbench.base import PAUSE_MATRIX, RANDOM_PAUSES, Testbench
from sim.verilator.build import build_design, build_root, run_job
from sim.verilator.separate import silence_unused

PORTS = HarnessPorts(cmd="cmd", out="out", status="status", monitors=("busy",), counters=("taken",))


class Echo(wiring.Component):
    cmd: In(stream.Signature(16))
    out: Out(stream.Signature(16))
    status: Out(stream.Signature(8))
    busy: Out(1)
    taken: Out(32)

    def elaborate(self, platform):
        m = Module()
        out_pending, st_pending = Signal(), Signal()
        m.d.comb += [self.cmd.ready.eq(~out_pending & ~st_pending), self.out.valid.eq(out_pending),
                     self.status.valid.eq(st_pending), self.busy.eq(out_pending | st_pending)]
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [self.out.payload.eq(self.cmd.payload + 1), out_pending.eq(self.cmd.payload[0]),
                         self.status.payload.eq(self.cmd.payload[:8]), st_pending.eq(1), self.taken.eq(self.taken + 1)]
        with m.If(self.out.valid & self.out.ready):
            m.d.sync += out_pending.eq(0)
        with m.If(self.status.valid & self.status.ready):
            m.d.sync += st_pending.eq(0)
        return m


@pytest.fixture(scope="module")
def build():
    return build_design(Echo, "echo", key="echo-v1", harness=PORTS)


def job(tmp_path, words, gates, outputs, **kwargs):
    path = tmp_path / "job.txt"
    write_job(path, words, gates, outputs, **kwargs)
    return path


def expected(words):
    return [w + 1 for w in words if w & 1], [w & 0xFF for w in words]


@pytest.mark.verilator
@pytest.mark.parametrize("pauses", list(PAUSE_MATRIX))
def test_every_command_is_played_once_in_order_and_scoreboarded(build, seed, pauses):
    rnd = random.Random(seed)
    words = [rnd.randrange(1 << 16) for _ in range(300)]
    outs, stats = expected(words)
    played = Testbench(build).play(words, outputs=len(outs), expected=outs, pauses=PAUSE_MATRIX[pauses], seed=seed)
    log = played.log
    print(f"seed {seed}, {pauses}: {log.cycles} cycles")
    assert played.matched, played.mismatch
    assert [w for _, w in log.outputs] == outs and log.statuses == stats
    assert log.counters == {"taken": len(words)} and not log.timed_out
    cycles = [c for c, _ in log.outputs]
    assert cycles == sorted(set(cycles))
    assert log.cycles >= 2 * len(words)                  # the echo takes a command every other cycle at best
    if PAUSE_MATRIX[pauses].active:     # idle cycles and stalls stretch the run past the steady one
        steady = Testbench(build).play(words, outputs=len(outs), expected=outs)
        assert log.cycles > steady.log.cycles
    else:
        assert log.cycles < 2.2 * len(words) + 10


@pytest.mark.verilator
@pytest.mark.parametrize("pauses", list(PAUSE_MATRIX))
def test_the_scoreboard_stops_at_the_first_mismatch_and_names_its_cycle(build, seed, pauses):
    words = [2 * i + 1 for i in range(100)]                # odd: every command answers
    want = [w + 1 for w in words]
    clean = Testbench(build).play(words, outputs=len(words), expected=want, pauses=PAUSE_MATRIX[pauses], seed=seed)
    bad = random.Random(seed).randrange(10, 90)
    wrong = want[:bad] + [want[bad] ^ 0x40] + want[bad + 1:]
    played = Testbench(build).play(words, outputs=len(words), expected=wrong, pauses=PAUSE_MATRIX[pauses], seed=seed)
    at = clean.log.outputs[bad][0]
    print(f"seed {seed}, {pauses}: {played.mismatch}")
    assert clean.matched and not played.matched
    assert played.mismatch == (f"echo_job: output {bad} at cycle {at}: got 0x{want[bad]:x}, "
                               f"expected 0x{want[bad] ^ 0x40:x} (bits 6 differ)")
    assert played.matched_outputs == bad
    assert len(played.log.outputs) == bad + 1 and played.log.cycles < clean.log.cycles


def test_pauses_need_a_seed_and_a_probability_below_one(build):
    with pytest.raises(ValueError, match="seed: pauses .* need a seed"):
        Testbench(build).play([1], outputs=1, pauses=RANDOM_PAUSES)
    with pytest.raises(ValueError, match=r"stall: a pause probability must lie in \[0, 1\), not 1.0"):
        Pauses(stall=1.0)


@pytest.mark.verilator
def test_a_gated_command_waits_for_the_outputs_before_it(build, tmp_path):
    words = [1, 3, 5, 7]
    log, _ = run_job(build, job(tmp_path, words, [0, 0, 2, 0], 4), "gated")
    c = [cycle for cycle, _ in log.outputs]
    # Ungated, a command enters every other cycle; the gate holds word 5 until output 2 has left.
    ungated, _ = run_job(build, job(tmp_path, words, [0] * 4, 4), "ungated")
    u = [cycle for cycle, _ in ungated.outputs]
    assert c[:2] == u[:2] and c[2] > u[2]
    assert [w for _, w in log.outputs] == [2, 4, 6, 8]


@pytest.mark.verilator
def test_a_reset_mid_run_replays_the_job_and_logs_only_the_second_pass(build, tmp_path, seed):
    words = list(range(1, 200, 2))
    clean, _ = run_job(build, job(tmp_path, words, [0] * len(words), len(words)), "clean")
    log, _ = run_job(build, job(tmp_path, words, [0] * len(words), len(words), resets=[57]), "reset")
    assert log.resumes == [0] and dataclasses.replace(log, resumes=[]) == clean
    text = (build.build_dir / "reset.log.txt").read_text()
    assert "R 55 0 0\n" in text                 # job cycle 57 is the pass's 55 (2 reset cycles); no checkpoint: from 0
    assert text.split("R 55")[0].count("\nO ") > 10        # the first pass was well under way when it was reset


@pytest.mark.verilator
def test_resets_resume_play_at_the_last_checkpoint_passed(build, tmp_path, seed):
    """Three resets under random pauses; play resumes at the last checkpoint whose commands all have their
    status and whose gate is met, so the log, put together, is the clean run's."""
    rnd = random.Random(seed)
    words = [rnd.randrange(1 << 16) | 1 for _ in range(300)]
    gates = [i if i % 30 == 0 else 0 for i in range(300)]         # every 30th command waits for all outputs
    kw = dict(seed=seed, pauses=RANDOM_PAUSES, checkpoints=range(0, 300, 30))
    clean, _ = run_job(build, job(tmp_path, words, gates, 300, **kw), "clean")
    log, _ = run_job(build, job(tmp_path, words, gates, 300, resets=[400, 452, 755], **kw), "resets")
    print(f"seed {seed}")
    assert (log.outputs[-1][1], len(log.outputs)) == (clean.outputs[-1][1], 300)
    assert [w for _, w in log.outputs] == [w for _, w in clean.outputs] == [w + 1 for w in words]
    assert log.statuses == clean.statuses and log.resets == 3
    text = (build.build_dir / "resets.log.txt").read_text()
    points = [tuple(map(int, line.split()[1:])) for line in text.splitlines() if line.startswith("R ")]
    assert [p[0] for p in points] == [398, 49, 300]            # each pass's own cycle, after its 2 reset cycles
    assert all(c % 30 == 0 and g == c for _, c, g in points)      # a checkpoint, its gate its own index
    assert log.resumes == [c for _, c, _ in points]
    assert points[0][1] > 0 and points[2][1] > points[0][1]       # resumed mid-job, and further each time


@pytest.mark.verilator
def test_a_job_that_cannot_finish_stops_at_its_limit(build, tmp_path):
    log, _ = run_job(build, job(tmp_path, [2, 4], [0, 0], 1, limit=500), "stuck")   # even words: no output
    assert log.timed_out and log.cycles == 501 and log.outputs == []


@pytest.mark.verilator
def test_only_the_harness_clock_and_done_are_public(build):
    """cocotb's runner passes --public-flat-rw, which would make every variable a VPI one: the build turns it
    off, and only what the .vlt file names is registered with the VPI (at the top and in the harness)."""
    syms = (build.build_dir / "Vtop__Syms__Slow.cpp").read_text()
    public = re.findall(r'varInsert\("(\w+)"', syms)
    assert sorted(public) == ["clk", "clk", "done", "done"]


@pytest.mark.verilator
def test_the_plain_cpp_main_logs_exactly_what_cocotb_logs(build, tmp_path, seed):
    rnd = random.Random(seed)
    words = [rnd.randrange(1 << 16) for _ in range(500)]
    path = job(tmp_path, words, [0] * len(words), len(expected(words)[0]), seed=seed, pauses=RANDOM_PAUSES)
    a, _ = run_job(build, path, "cocotb")
    b, _ = run_job(build, path, "raw", raw=True)
    assert a == b and a.outputs


@pytest.mark.verilator
@pytest.mark.parametrize("wave_format", ["vcd", "fst"])
def test_a_traced_run_writes_waves_that_agree_with_the_log(tmp_path, wave_format):
    """Each output the log names is on the traced ports at its cycle, in VCD and in FST alike. Where the C++
    toolchain cannot link Verilator's FST writer (no lz4 or zlib), an FST build is refused up front."""
    from sim.verilator.toolchain import ToolchainError, fst_missing
    from sim.waves import load_waves
    if wave_format == "fst" and fst_missing():
        with pytest.raises(ToolchainError, match="wave format fst: .*liblz4-dev"):
            build_design(Echo, "echo", key="echo-v1", harness=PORTS, waves=wave_format)
        return
    traced = build_design(Echo, "echo", key="echo-v1", harness=PORTS, waves=wave_format)
    assert traced.wave_file.name == f"dump.{wave_format}"
    words = [1, 3, 4, 9, 11, 12, 15]
    log, _ = run_job(traced, job(tmp_path, words, [0] * len(words), 5), "traced")
    waves = load_waves(traced.wave_file, "d_out__valid,d_out__payload,echo_job.rst")
    assert waves.names == ["echo_job.d_out__valid", "echo_job.d_out__payload", "echo_job.rst"]
    valid, payload, rst = waves.values
    # The log's cycle 0 is the first cycle out of reset, and an output is logged in the cycle its valid is
    # seen (the harness takes it at once).
    start = rst.index(0)
    assert start == 1 and not any(rst[start:])
    assert [(c - start, payload[c]) for c in waves.cycles if valid[c]] == log.outputs
    assert [w for _, w in log.outputs] == [2, 4, 10, 12, 16]


def test_the_harness_refuses_ports_it_cannot_drive():
    echo = Echo()
    silence_unused(echo)
    with pytest.raises(ValueError, match="echo has no output port 'result__payload'"):
        job_harness(echo, "echo", HarnessPorts(out="result"))
    with pytest.raises(ValueError, match="echo has no input port 'status__payload'"):
        job_harness(echo, "echo", HarnessPorts(cmd="status"))
    with pytest.raises(ValueError, match="input port 'out__ready' is not a stream the harness drives"):
        job_harness(echo, "echo", HarnessPorts(out=None, status="status"))


def test_log_parsing(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("O 3 1f\nS 02\nR 9 0 0\nA 0 1\nO 5 2a\nS 03\nC taken 4\nD 12\n")
    assert parse_log(path) == JobLog([(5, 0x2A)], [3], [(0, 1)], {"taken": 4}, 12, False, resumes=[0])
    # Resumed at command 2, gate 1: the first output and the first two statuses stand.
    path.write_text("O 3 1f\nS 02\nS 04\nO 6 2a\nS 05\nR 9 2 1\nO 5 2a\nS 05\nD 12\n")
    assert parse_log(path) == JobLog([(3, 0x1F), (5, 0x2A)], [2, 4, 5], [], {}, 12, False, resumes=[2])
    path.write_text("O 3 1f\nO 4 20\nM 4 1 20 21\nD 5\n")
    assert parse_log(path).mismatch == Mismatch(4, 1, 0x20, 0x21)
    path.write_text("O 3 1f\n")
    with pytest.raises(RuntimeError, match="no end line"):
        parse_log(path)
    with pytest.raises(ValueError, match="3 words but 2 gates"):
        write_job(tmp_path / "j.txt", [1, 2, 3], [0, 0], 1)
    with pytest.raises(ValueError, match="expected: 2 words for a job of 1 outputs"):
        write_job(tmp_path / "j.txt", [1], [0], 1, expected=[2, 3])


class CombLoop(wiring.Component):
    """A combinational loop through an adder (loop = loop + cmd), registered on the way out."""
    cmd: In(stream.Signature(16))
    out: Out(stream.Signature(16))

    def elaborate(self, platform):
        m = Module()
        loop = Signal(16)
        m.d.comb += [loop.eq(loop + self.cmd.payload), self.out.valid.eq(1), self.cmd.ready.eq(1)]
        m.d.sync += self.out.payload.eq(loop)
        return m


@pytest.mark.verilator
def test_a_combinational_loop_fails_the_build(tmp_path):
    """Simulation builds skip Amaranth's combinational-cycle check (hw.verilog.emit_verilog); Verilator's own
    must then refuse the loop."""
    with pytest.raises(RuntimeError, match="Command failed"):
        build_design(CombLoop, "comb_loop", harness=HarnessPorts())
    newest = max(build_root().glob("comb_loop_job-*"), key=lambda p: p.stat().st_mtime)
    assert "%Warning-UNOPTFLAT" in (newest / "build.log").read_text()


def test_the_lint_refuses_a_combinational_loop_that_emission_did_not_check(tmp_path):
    """``pam verilog --lint`` emits without Amaranth's cycle check; the lint must then flag the loop."""
    from hw.verilog import emit_verilog
    from sim.verilator.toolchain import lint_verilog
    loop = CombLoop()
    path = tmp_path / "loop.v"
    path.write_text(emit_verilog(loop, "loop", check_comb_cycles=False))
    clean, text = lint_verilog(path, "loop")
    assert not clean and "UNOPTFLAT" in text


def test_the_emission_cache_digest_covers_the_sources_that_shape_the_verilog():
    """The emitted Verilog is cached by the source digest: every RTL, golden and harness source must be in it
    (after the layout split it covered none of them, and stale Verilog was reused)."""
    from pathlib import Path
    from sim.verilator.build import digest_sources
    root = Path(__file__).resolve().parents[3]
    covered = {p.relative_to(root).as_posix() for p in digest_sources()}
    for path in ("hw/pu.py", "hw/system.py", "golden/hwmodel.py", "sim/testbench/harness.py", "sim/verilator/separate.py"):
        assert path in covered, path
    assert len(covered) > 60
