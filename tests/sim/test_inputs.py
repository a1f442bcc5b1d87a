"""The input boundary (sim.cli.inputs): numbers, files to read and to write, archives, JSON depth."""

import io
import json
import math
import os
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from perf.calibration import shipped_calibration_path
from golden.validate import InputError, check_json_depth, check_number
from sim.inputs import (check_npz, input_file, output_dir,
                            output_file, parse_float, parse_int)


@settings(max_examples=300, deadline=None)
@given(st.integers(-10**30, 10**30))
def test_every_ascii_integer_parses_to_itself(n):
    assert parse_int(str(n), "--x") == n


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=12))
def test_a_string_is_an_integer_only_in_ascii_digits(text):
    body = text[1:] if text[:1] in ("+", "-") else text
    ascii_int = body != "" and all(c in "0123456789" for c in body)
    try:
        parse_int(text, "--x")
        parsed = True
    except InputError as exc:
        assert str(exc).startswith("--x: ")
        parsed = False
    assert parsed == bool(ascii_int), text


@pytest.mark.parametrize("text", ["١٢", "１２", "1_000", "", " ", "0x10", "1e3", "12a", "--1", " 12", "12\n"])
def test_integers_beside_python_int_are_refused(text):
    with pytest.raises(InputError, match="--tokens: .* is not an integer in ASCII digits"):
        parse_int(text, "--tokens")


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_float_round_trips(x):
    assert parse_float(repr(x), "--x") == x


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "٣.٥", "", "0x1p3", "1,5"])
def test_non_finite_and_non_ascii_numbers_are_refused(text):
    with pytest.raises(InputError, match="^--x: "):
        parse_float(text, "--x")


def test_config_numbers_are_finite_typed_and_in_range():
    assert check_number(5, "pu_mhz", least=1) == 5
    for value, kw, says in [(math.nan, {}, "not finite"), (math.inf, {}, "not finite"), (True, {}, "not a number"),
                            ("5", {}, "not a number"), (2.5, {"integer": True}, "not an integer"),
                            (0, {"above": 0}, "must be above 0"), (-1, {"least": 0}, "below the least"),
                            (10, {"most": 8}, "above the limit")]:
        with pytest.raises(InputError, match=f"^tier.pu_mhz: .*{says}"):
            check_number(value, "tier.pu_mhz", **kw)


def test_files_to_read_are_regular_files_refused_by_kind(tmp_path):
    regular = tmp_path / "t.npz"
    regular.write_bytes(b"x" * 100)
    assert input_file(regular, "--trace") == regular
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    cases = [(fifo, "a named pipe"), ("/dev/zero", "a character device"), (tmp_path, "a directory"),
             (loop, "symbolic links"), (tmp_path / "missing", "no such file")]
    for path, says in cases:
        with pytest.raises(InputError, match=f"^--trace: .*{says}"):
            input_file(path, "--trace")
    with pytest.raises(InputError, match="--trace: .* 100 bytes, above the limit of 99"):
        input_file(regular, "--trace", max_bytes=99)


def test_a_huge_sparse_file_is_refused_by_its_size_without_reading_it(tmp_path):
    sparse = tmp_path / "sparse.vcd"
    with open(sparse, "wb") as f:
        f.truncate(20 << 30)
    with pytest.raises(InputError, match="above the limit"):
        input_file(sparse, "file", max_bytes=1 << 30)


def test_shipped_files_are_never_outputs_by_path_hard_link_or_symlink(tmp_path):
    shipped = shipped_calibration_path()
    hard = tmp_path / "hard.json"
    os.link(shipped, hard)
    soft = tmp_path / "soft.json"
    soft.symlink_to(shipped)
    before = shipped.read_bytes()
    for path in (shipped, hard, soft):
        with pytest.raises(InputError, match="^-o: .* ships with the project"):
            output_file(path, "-o")
    assert shipped.read_bytes() == before
    assert output_file(tmp_path / "new.json", "-o") == tmp_path / "new.json"


def test_outputs_that_are_not_files_or_cannot_be_written_are_refused(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    cases = [(tmp_path, "a directory"), (fifo, "a named pipe"), ("/dev/null", "a character device"),
             (tmp_path / "no" / "x.json", "does not exist")]
    if os.geteuid() != 0:                     # root writes anywhere
        cases.append((locked / "x.json", "cannot be written"))
    for path, says in cases:
        with pytest.raises(InputError, match=f"^--out: .*{says}"):
            output_file(path, "--out")


def test_output_folders_stay_out_of_the_project_sources(tmp_path):
    folder = shipped_calibration_path().parent
    for path in (folder, folder / "new"):
        with pytest.raises(InputError, match="^-o: .*inside the project's own folder"):
            output_dir(path, "-o")
    afile = tmp_path / "f"
    afile.write_text("")
    with pytest.raises(InputError, match="^-o: .*not a folder"):
        output_dir(afile / "sub", "-o")
    assert output_dir(tmp_path / "a" / "b", "-o") == tmp_path / "a" / "b"


def test_an_archive_is_sized_before_it_is_unpacked(tmp_path):
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        buffer = io.BytesIO()
        np.save(buffer, np.zeros(1 << 22, dtype=np.uint16))
        z.writestr("k.npy", buffer.getvalue())
    assert bomb.stat().st_size < 100_000
    with pytest.raises(InputError, match=r"^--trace: .* unpacks to 8,388,\d+ bytes \(k.npy: .*above the limit"):
        check_npz(bomb, "--trace", max_bytes=1 << 20)
    check_npz(bomb, "--trace", max_bytes=1 << 24)
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(InputError, match="^--trace: .* is not a .npz archive"):
        check_npz(tmp_path / "text.npz", "--trace", max_bytes=1 << 24)


def test_json_nesting_is_bounded_without_recursion():
    deep = "[" * 200_000 + "]" * 200_000
    with pytest.raises(InputError, match="^meta: JSON nested deeper than 64 levels"):
        check_json_depth(deep, "meta")
    check_json_depth(json.dumps({"a": [[1, 2], {"b": "[[[[{{{{"}]}), "meta")     # brackets inside strings
    check_json_depth("[" * 64 + "]" * 64, "meta")
