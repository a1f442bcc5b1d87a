"""Progress lines: plain lines at every tenth off a terminal, tqdm's bar redrawn in place on one."""

import io

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
