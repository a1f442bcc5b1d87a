"""The input contract, tried by a generator: every option of every command, given a hostile value, is refused
in one line that names it, with exit status 2, no traceback, within 10 s, writing nothing and leaving every
shipped file as it was.

The options come from the parser itself (``sim.cli.app.build_parser``), so a new option is fuzzed the day
it is added. Each case runs in this process (a refusal costs milliseconds); a case that is not refused
runs the command, which the alarm stops at 10 s. The run is seeded: ``PAM_SEED`` replays one, and
``PAM_CONTRACT_EXAMPLES`` sets its length (the long run: 10,000). Cases it has found stay in the bad-input
corpus, ``tests/bad_inputs/cases.toml``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import io
import math
import os
import signal
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings, strategies as st

from perf.calibration import shipped_calibration_path
from sim import inputs
from sim.cli.app import build_parser, main
from sim.cli.limits import LIMITS

SEED = int(os.environ.get("PAM_SEED", "20261122"))
EXAMPLES = int(os.environ.get("PAM_CONTRACT_EXAMPLES", "600"))
LIMIT_S = 10
ROOT = Path(__file__).resolve().parents[1]
FILES = ROOT / "tests" / "bad_inputs" / "files"

# What each command needs besides the option under test, all valid; {tmp} is the case's folder.
REQUIRED = {
    "trace gen": ["-o", "{tmp}/t.npz"], "trace capture": ["-o", "{tmp}/capture"],
    "trace info": [str(FILES / "v2_small.npz")], "sim device": ["--trace", str(FILES / "v1_small.npz")],
    "sim pu": ["--trace", str(FILES / "v1_small.npz")], "schedule": ["--trace", str(FILES / "v2_small.npz")],
    "waves": [str(FILES / "no_clock.vcd")], "sweep": ["--set", "ddr4.lanes=4", "-o", "{tmp}/dse"],
    "area": ["pu"], "verilog": ["pu"],
}

NOT_ADDRESSES = ["garbage", "", "tcp://", "tcp://host", "host:0", "host:65536", "host:99999", "tcp://h:٣٣",
                 "http://host:8786", "host:8786 extra", "host:-1"]
NOT_NUMBERS = ["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "", " ", "١٢", "１２", "٣.٥", "1_000", "0x10",
               "12abc", "--", "9" * 5000, "1,,2", "\x00", "1e5\n"]


def commands(parser=None, path=()):
    """(command name, its parser) for every leaf command of ``pam``."""
    parser = parser or build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield " ".join(path), parser
        return
    for name, sub in subs[0].choices.items():
        yield from commands(sub, (*path, name))


def options(parser):
    """The options a value can be given to, with their kind: number, numbers, input, output, folder."""
    kinds = {inputs.integer: "number", inputs.real: "number", inputs.trace_file: "input", inputs.json_file: "input",
             inputs.text_file: "input", inputs.wave_file: "input", inputs.tier_name_or_file: "input",
             inputs.new_file: "output", inputs.new_folder: "folder", inputs.scheduler: "address"}
    found = []
    for action in parser._actions:
        kind = kinds.get(action.type) or ("numbers" if getattr(action.type, "__name__", "").endswith("_ints")
                                          else None)
        if kind and action.nargs in (None, "+"):
            name = action.dest if action.option_strings or not action.metavar else action.metavar
            found.append((action.option_strings[0] if action.option_strings else None, name, kind))
    return found


CASES = [(name, option, dest, kind) for name, parser in commands() for option, dest, kind in options(parser)
         if not (option is None and name not in REQUIRED)]


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory):
    """Paths of every hostile kind: special files, loops, links to shipped files, huge, bombs, truncated."""
    d = tmp_path_factory.mktemp("hostile")
    os.mkfifo(d / "fifo")
    (d / "loop").symlink_to(d / "loop")
    shipped = shipped_calibration_path()
    os.link(shipped, d / "hard_link_to_shipped.json")
    (d / "symlink_to_shipped.json").symlink_to(shipped)
    with open(d / "huge_sparse.vcd", "wb") as f:
        f.truncate(20 << 30)
    with zipfile.ZipFile(d / "bomb.npz", "w", compression=zipfile.ZIP_DEFLATED) as z:
        buffer = io.BytesIO()
        np.save(buffer, np.zeros((1 << 24, 1, 1), dtype=np.uint16))
        z.writestr("k.npy", buffer.getvalue())
    (d / "truncated.npz").write_bytes((FILES / "v1_small.npz").read_bytes()[:300])
    (d / "a_file").write_text("not a folder\n")
    return {
        "input": [d / "fifo", "/dev/zero", "/dev/null", d, d / "loop", d / "missing.npz", d / "huge_sparse.vcd",
                  d / "bomb.npz", d / "truncated.npz", FILES / "bad_meta_json.npz", FILES / "text.npz"],
        "output": [shipped, d / "hard_link_to_shipped.json", d / "symlink_to_shipped.json", d, d / "fifo",
                   "/dev/null", d / "no_such_folder" / "x.out", ROOT / "pyproject.toml", d / "loop"],
        "folder": [shipped.parent, ROOT / "hw" / "configs", ROOT / "sim", d / "a_file", d / "a_file" / "sub",
                   "/dev/null"],
    }


def not_a_plain_number(text: str) -> bool:
    """True unless ``text`` is a finite number as a person types one: ASCII, no padding, no underscores
    (Python's float() alone accepts '١٢', ' 1' and '1_0')."""
    if not text.isascii() or text != text.strip() or "_" in text:
        return True
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return True


def numbers_outside(dest):
    """Numbers outside an option's stated range (LIMITS), or none when it has no range."""
    if dest not in LIMITS:
        return []
    least, most, _ = LIMITS[dest]
    out = [str(least - 1) if isinstance(least, int) else repr(least / 2 - 1)]
    if most is not None:
        out.append(str(most + 1) if isinstance(most, int) else repr(most * 2 + 1))
    return out


def shipped_digests() -> dict:
    files = [p for folder in ("golden", "hw", "host", "perf", "sim", "docs", "tests/bad_inputs", "examples")
             for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


class Overran(Exception):
    pass


def play(argv) -> tuple[int | None, str, str]:
    """(exit status, stdout, stderr) of ``pam argv`` in this process; status None when it ran past the limit;
    a traceback's text as stderr when it raised."""
    out, err = io.StringIO(), io.StringIO()

    def alarm(signum, frame):
        raise Overran

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(LIMIT_S)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(argv)
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else 2
    except Overran:
        status = None
    except Exception as exc:                   # noqa: BLE001 - a traceback is what the contract forbids
        return 1, out.getvalue(), f"Traceback: {type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return status, out.getvalue(), err.getvalue()


def check_contract(argv, option, dest, value, tmp, before_tmp) -> None:
    status, out, err = play(argv)
    lines = err.strip().splitlines()
    shown = " ".join(map(str, argv))[:300]
    assert status is not None, f"pam {shown}: ran past {LIMIT_S} s"
    assert "Traceback" not in err, f"pam {shown}: {err[-500:]}"
    assert status == 2, f"pam {shown}: exit {status}; stderr {err[-300:]!r}"
    assert len(lines) == 1 and lines[0].startswith("pam") and ": error: " in lines[0], f"pam {shown}: {err!r}"
    names = [n for n in (option, dest, dest.replace("_", "-"), value) if n]     # a file's content: the file
    assert any(n in lines[0] for n in names), f"pam {shown}: {lines[0]!r} does not name {option or dest}"
    assert sorted(p.name for p in tmp.iterdir()) == before_tmp, f"pam {shown}: wrote into {tmp}"


@pytest.fixture(scope="module")
def digests():
    before = shipped_digests()
    yield before
    after = shipped_digests()
    changed = [str(p) for p in before if after.get(p) != before[p]]
    assert not changed, f"shipped files changed: {changed[:5]}"


def test_every_command_and_value_kind_is_fuzzed():
    kinds = {kind for *_, kind in CASES}
    assert {"number", "numbers", "input", "output", "folder", "address"} <= kinds
    assert len({name for name, *_ in CASES}) >= 20 and len(CASES) >= 80


def test_hostile_values_are_refused_by_contract(hostile_files, digests, tmp_path, monkeypatch):
    monkeypatch.setenv("PAM_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.chdir(tmp_path)
    work = tmp_path / "case"
    work.mkdir()
    before_tmp = sorted(p.name for p in work.iterdir())
    print(f"\n[contract fuzz] seed={SEED} examples={EXAMPLES} (set PAM_SEED to replay, PAM_CONTRACT_EXAMPLES "
          f"for a longer run)")

    @st.composite
    def cases(draw):
        name, option, dest, kind = draw(st.sampled_from(CASES))
        if kind == "address":
            value = draw(st.sampled_from(NOT_ADDRESSES))
        elif kind in ("number", "numbers"):
            pool = NOT_NUMBERS + numbers_outside(dest)
            value = draw(st.sampled_from(pool) | st.text(st.characters(categories=("Nd", "No", "Zs", "Po")),
                                                          min_size=1, max_size=6).filter(not_a_plain_number))
            if kind == "numbers" and draw(st.booleans()):
                value = f"1,{value}"
        else:
            value = str(draw(st.sampled_from(hostile_files[kind])))
        required = [a.replace("{tmp}", str(work)) for a in REQUIRED.get(name, [])]
        if option is None:                                         # a positional argument
            position = next(i for i, a in enumerate(required) if not a.startswith("-")
                            and (i == 0 or not required[i - 1].startswith("-")))
            required[position] = value
            return [*name.split(), *required], option, dest, value
        return [*name.split(), *required, option, value], option, dest, value

    @seed(SEED)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(cases())
    def fuzz(case):
        argv, option, dest, value = case
        tried[" ".join(argv[:2]) if argv[0] in ("trace", "bench", "sim") else argv[0]] += 1
        check_contract(argv, option, dest, value, work, before_tmp)

    tried = collections.Counter()
    fuzz()
    print(f"[contract fuzz] {sum(tried.values())} cases, 0 violations, per command: "
          + ", ".join(f"{name} {n}" for name, n in sorted(tried.items())))
