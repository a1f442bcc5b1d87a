"""The bad-input corpus (tests/bad_inputs/cases.toml): each case exits with status 2 and one line on stderr
that names the field and the value, prints no traceback, and finishes within 10 s.

Each case runs ``pam`` in its own process, so that a hang inside NumPy or a build is caught by the timeout."""

import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = tomllib.loads((CORPUS / "cases.toml").read_text())["case"]
LIMIT_S = 10


def _case_id(case):
    return " ".join(case["argv"]).replace("{files}/", "").replace("{tmp}/", "") or "(none)"


def test_the_corpus_is_large_enough_and_its_files_exist():
    assert len(CASES) >= 100
    named = {arg.split("/", 1)[1] for case in CASES for arg in case["argv"] if arg.startswith("{files}/")}
    assert all((CORPUS / "files" / name).exists() or name.startswith("..") for name in named)


def _run_pam(argv, cwd, env):
    """(status, stdout, stderr) of ``pam argv``, or status None when it ran past the limit; then its whole
    process group (worker processes included) is killed, so nothing it started lives on."""
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", *argv], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=LIMIT_S)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out, err


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_bad_input_gives_one_line_and_status_2(case, tmp_path):
    argv = [a.replace("{files}", str(CORPUS / "files")).replace("{tmp}", str(tmp_path)) for a in case["argv"]]
    env = {**os.environ, "PAM_BUILD_DIR": str(tmp_path / "build")}     # a case that builds anything fails
    for attempt in (1, 2):     # a second try only when the first overran: a loaded 2-core CI machine is noisy
        status, out, err = _run_pam(argv, tmp_path, env)
        if status is not None:
            break
    if status is None:
        pytest.fail(f"ran past {LIMIT_S} s twice; stderr so far: {err[-600:]!r}")
    lines = err.splitlines()
    assert status == 2, f"exit {status}; stderr: {err[-600:]}"
    assert len(lines) == 1, f"{len(lines)} lines on stderr:\n{err[-1200:]}"
    assert lines[0].startswith("pam") and ": error: " in lines[0], lines[0]
    named = lines[0].replace("_", "-")                       # a field and its option read alike: head_dim, --head-dim
    missing = [s for s in case["says"] if s.replace("_", "-") not in named]
    assert not missing, f"{lines[0]!r} does not name {missing}"
    assert "Traceback" not in err and not out.strip(), out[-400:]
