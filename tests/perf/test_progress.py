"""Progress lines: plain lines at every tenth off a terminal, tqdm's bar redrawn in place on one."""

import io

import pytest

from perf.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_off_a_terminal_a_plain_line_at_every_tenth_with_the_time_left():
    out = io.StringIO()
    bar = Progress(40, "sweep", stream=out)
    for i in range(40):
        bar.step(f"case {i}")
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and len(lines) == 11           # the first step, then each tenth
    assert lines[0].startswith("[1/40] sweep: case 0,") and lines[-1].startswith("[40/40] sweep: case 39,")
    assert all("elapsed" in line and "left" in line for line in lines)


def test_on_a_terminal_the_bar_redraws_in_place():
    out = Terminal()
    bar = Progress(5, "sweep", stream=out)
    for i in range(5):
        bar.step(f"case {i}")
    assert "\r" in out.getvalue() and "5/5" in out.getvalue()


def test_disabled_prints_nothing():
    out = io.StringIO()
    bar = Progress(5, "sweep", enabled=False, stream=out)
    for i in range(5):
        bar.step("x")
    assert out.getvalue() == ""


def test_a_stage_speaks_at_once_and_then_at_every_beat():
    import io
    import time

    from perf.progress import stage

    out = io.StringIO()
    with stage("building the thing", every_s=0.05, stream=out):
        assert out.getvalue() == "[pam] building the thing\n"        # at once, before any work
        time.sleep(0.28)
    lines = out.getvalue().splitlines()
    assert 4 <= len(lines) <= 7 and all(line.startswith("[pam] building the thing") for line in lines)
    time.sleep(0.12)
    assert len(out.getvalue().splitlines()) == len(lines)                 # silent once the block is over


@pytest.mark.parametrize("argv", [["bench", "schedule", "--contexts", "4096", "--requests", "4", "--steps", "1"],
                                  ["verilog", "fmul", "--format", "fp16"]])
def test_long_commands_speak_on_stderr_within_their_first_seconds(argv, tmp_path):
    """The first progress line comes before the work: within a second on an idle machine (2 s allowed here for
    a loaded 2-core runner), and it names the stage."""
    import subprocess
    import sys
    import time

    if argv[0] == "verilog":
        argv = [*argv, "-o", str(tmp_path / "v")]
    env = {**__import__("os").environ, "PAM_BUILD_DIR": str(tmp_path / "build")}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
    first = proc.stderr.readline()
    waited = time.perf_counter() - t0
    proc.communicate(timeout=300)
    assert first.startswith("[pam] ") and len(first) > 20, first
    assert waited < 2.0, f"first line after {waited:.2f} s: {first!r}"
    assert proc.returncode == 0


def test_nested_stages_beat_only_the_innermost():
    import time

    from perf.progress import stage

    out = io.StringIO()
    with stage("outer", every_s=0.05, stream=out):
        with stage("inner", every_s=0.05, stream=out):
            time.sleep(0.2)
    lines = out.getvalue().splitlines()
    start = lines.index("[pam] inner")          # the outer stage may beat before the inner one starts (a busy machine)
    assert lines[0] == "[pam] outer" and all(line.startswith("[pam] outer: ") for line in lines[1:start])
    assert all(line.startswith("[pam] inner: ") for line in lines[start + 1:]) and len(lines) - start >= 3
