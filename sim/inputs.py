"""The one boundary every input of ``pam`` crosses: numbers, paths to read, paths to write, archives, JSON and
environment variables.

Each check raises :class:`InputError` (a ``ValueError``) whose message starts with the option, field or
variable it is about, so the CLI prints it as its one line. The argparse types (``integer``, ``real``,
``trace_file``, ``tier_name_or_file``, ``json_file``, ``text_file``, ``wave_file``, ``new_file``,
``new_folder``, ``scheduler``) run while the command line is parsed, before any command starts, so a bad
value never reaches a build, a simulation or a write.

* **Numbers** are ASCII digits only (``int("١٢")`` is 12 in Python; here it is refused), finite, and, for
  options, within the range of ``sim.cli.limits.LIMITS``; ``golden.validate.check_number`` does the same
  for a value read from a config file.
* **Files to read** are regular files, by kind: a FIFO, a device (``/dev/zero``), a directory or a socket is
  refused before it is opened, and so is a file larger than the reader's limit.
* **Files to write** are refused, before any work, when they are the same file as a file that ships with the
  project (``os.path.samefile``: hard links and symlinks included), a directory, a special file, or in a
  folder that does not exist or cannot be written. Output folders are refused inside the project's own
  source folders.
* **Archives**: a ``.npz``'s members are sized from its directory before anything is decompressed.
* **Environment**: ``PAM_DASK_SCHEDULER`` and ``PAM_BUILD_DIR`` are checked before any command runs.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import re
import stat
import zipfile
from pathlib import Path

from golden.validate import InputError

__all__ = ["InputError", "check_environment", "check_npz", "check_trace_archive", "input_file", "integer",
           "json_file", "name_os_error", "new_file", "new_folder", "output_dir", "output_file", "parse_float",
           "parse_int", "real", "scheduler", "scheduler_address", "shipped_files", "text_file",
           "tier_name_or_file", "trace_file", "wave_file"]

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _shown(text: str, width: int = 40) -> str:
    """``text`` quoted for a message, cut to ``width`` characters."""
    return repr(text if len(text) <= width else text[:width] + "…")


# -- numbers ------------------------------------------------------------------------------------------------

def parse_int(text: str, field: str) -> int:
    """An integer written in ASCII digits, with an optional sign."""
    if not isinstance(text, str) or not _INT.fullmatch(text):
        raise InputError(f"{field}: {_shown(str(text))} is not an integer in ASCII digits")
    return int(text)


def parse_float(text: str, field: str) -> float:
    """A finite decimal number in ASCII (``1``, ``0.5``, ``2e-3``); ``nan``, ``inf`` and the like are refused."""
    if not isinstance(text, str) or not _FLOAT.fullmatch(text):
        raise InputError(f"{field}: {_shown(str(text))} is not a finite decimal number")
    value = float(text)
    if not math.isfinite(value):
        raise InputError(f"{field}: {_shown(text)} is not finite")
    return value


def _typed(check, name: str):
    """argparse type from ``check(text, field)``; argparse names the option in front of the message."""
    def convert(text):
        try:
            return check(text, "value")
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None
    convert.__name__ = name
    return convert


integer = _typed(parse_int, "integer")
real = _typed(parse_float, "number")


# -- paths to read ------------------------------------------------------------------------------------------

def _kind(mode: int) -> str | None:
    return next((name for test, name in _KINDS if test(mode)), None)


def input_file(path, field: str, max_bytes: int | None = None) -> Path:
    """``path`` if it is a regular file this process can read, of at most ``max_bytes``; refused by kind
    otherwise, before it is opened."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{field}: {path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{field}: {path}: {exc.strerror or exc}") from None
    kind = _kind(info.st_mode)
    if kind is not None:
        raise InputError(f"{field}: {path} is {kind}, not a regular file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{field}: {path}: permission denied")
    if max_bytes is not None and info.st_size > max_bytes:
        raise InputError(f"{field}: {path} holds {info.st_size:,} bytes, above the limit of {max_bytes:,}")
    return path


def check_npz(path, field: str, max_bytes: int) -> None:
    """Refuse a ``.npz`` whose members would unpack past ``max_bytes`` in all, from the sizes its directory
    states, before anything is decompressed (a reader never reads past a member's stated size)."""
    try:
        with zipfile.ZipFile(path) as archive:
            _check_members(archive, path, field, max_bytes)
    except InputError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise InputError(f"{field}: {path} is not a .npz archive ({exc or type(exc).__name__})") from None


def _check_members(archive: zipfile.ZipFile, path, field: str, max_bytes: int) -> None:
    members = archive.infolist()
    total = sum(m.file_size for m in members)
    if total > max_bytes:
        biggest = max(members, key=lambda m: m.file_size)
        raise InputError(f"{field}: {path} unpacks to {total:,} bytes ({biggest.filename}: "
                         f"{biggest.file_size:,}), above the limit of {max_bytes:,}")


# -- paths to write -----------------------------------------------------------------------------------------

def _source_folders() -> list[Path]:
    """The folders whose files ship with the project: the packages, and in a checkout its docs and tests."""
    import golden
    import host
    import hw
    import perf
    import sim

    folders = [Path(package.__file__).resolve().parent for package in (golden, hw, host, perf, sim)]
    from sim.build_dir import checkout_root

    root = checkout_root()
    if root is not None:
        folders += [root / name for name in ("docs", "tests", "examples", ".ci")]
    return [f for f in folders if f.is_dir()]


@functools.cache
def shipped_files() -> frozenset[tuple[int, int]]:
    """(device, inode) of every file that ships with the project: the packages' files (configs, the shipped
    calibration, the C++ main), and in a checkout its top-level files, docs, tests and examples."""
    from sim.build_dir import checkout_root

    paths = [p for folder in _source_folders() for p in folder.rglob("*")
             if "__pycache__" not in p.parts]
    root = checkout_root()
    if root is not None:
        paths += [p for p in root.iterdir()]
    ids = set()
    for p in paths:
        try:
            info = os.stat(p)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            ids.add((info.st_dev, info.st_ino))
    return frozenset(ids)


def _writable_folder(folder: Path, field: str, path: Path) -> None:
    if not folder.is_dir():
        raise InputError(f"{field}: {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{field}: {path}: the folder {folder} cannot be written")


def output_file(path, field: str) -> Path:
    """``path`` if a command may write it: not a file that ships with the project (by any link to it), not a
    directory or special file, in a folder that exists and can be written."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise InputError(f"{field}: {path}: {exc.strerror or exc}") from None
    if info is not None:
        kind = _kind(info.st_mode)
        if kind is not None:
            raise InputError(f"{field}: {path} is {kind}, not a file to write")
        if (info.st_dev, info.st_ino) in shipped_files():
            raise InputError(f"{field}: {path} is a file that ships with the project, which pam never "
                             f"overwrites; write elsewhere")
        if not os.access(path, os.W_OK):
            raise InputError(f"{field}: {path} cannot be written")
    elif os.path.islink(path):
        raise InputError(f"{field}: {path} is a dangling symbolic link")
    _writable_folder(path.resolve().parent, field, path)
    return path


def output_dir(path, field: str) -> Path:
    """``path`` if a command may write files into it (it is created if missing): not a file, not one of the
    project's own source folders or inside one, and its nearest existing folder can be written."""
    path = Path(path)
    resolved = path.resolve()
    for folder in _source_folders():
        if resolved == folder or folder in resolved.parents:
            raise InputError(f"{field}: {path} is inside the project's own folder {folder}; write elsewhere")
    for existing in (path, *path.parents):
        try:
            info = os.stat(existing)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise InputError(f"{field}: {path}: {exc.strerror or exc}") from None
        if not stat.S_ISDIR(info.st_mode):
            raise InputError(f"{field}: {path}: {existing} is {_kind(info.st_mode) or 'a file'}, not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise InputError(f"{field}: {path}: the folder {existing} cannot be written")
        break
    return path


# -- the project's own file kinds ---------------------------------------------------------------------------

MAX_TRACE_FILE = 8 << 30              # a trace on disk (uncompressed .npz: K and V of every token)
MAX_TRACE_UNPACKED = 8 << 30          # what a trace's arrays may unpack to: the golden model holds them all
MAX_CONFIG_FILE = 1 << 20             # a tier TOML
MAX_JSON_FILE = 64 << 20              # a calibration file
MAX_TEXT_FILE = 64 << 20              # a prompt text
MAX_WAVE_FILE = 4 << 30               # a VCD or FST that pam waves reads whole


def _npy_shape(archive: zipfile.ZipFile, member: str) -> tuple:
    """The shape an ``.npy`` member of an archive states in its header, read without reading the array."""
    import numpy as np

    with archive.open(member) as f:
        major, _ = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, _ = read_header(f)
    return shape


def check_trace_archive(path, field: str, limits: dict) -> None:
    """A trace file, checked from its archive directory and array headers before any array is read: its
    arrays unpack to at most :data:`MAX_TRACE_UNPACKED` bytes, and its sizes (tokens, kv heads, head_dim,
    steps, query heads, GQA group) are within ``limits`` (``sim.cli.limits.LIMITS``: name -> (least, most,
    why)). The trace reader (``golden.traces.format.read_trace``) checks the rest, its metadata included."""
    try:
        with zipfile.ZipFile(path) as archive:
            _check_members(archive, path, field, MAX_TRACE_UNPACKED)
            names = set(archive.namelist())
            sizes = {}
            if "k.npy" in names:
                sizes.update(zip(("tokens", "kv_heads", "head_dim"), _npy_shape(archive, "k.npy")))
            if "q.npy" in names:
                sizes.update(zip(("steps", "q_heads"), _npy_shape(archive, "q.npy")))
    except InputError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise InputError(f"{field}: {path} is not a .npz archive ({exc or type(exc).__name__})") from None
    if sizes.get("kv_heads") and "q_heads" in sizes and sizes["q_heads"] % sizes["kv_heads"] == 0:
        sizes["group"] = sizes["q_heads"] // sizes["kv_heads"]
    for name, value in sizes.items():
        _, most, why = limits[name]
        if most is not None and value > most:
            raise InputError(f"{field}: {path} holds {name.replace('_', ' ')} {value:,}, above the limit of "
                             f"{most:,} ({why})")


def _trace(text, field):
    from sim.cli.limits import LIMITS

    path = input_file(text, field, MAX_TRACE_FILE)
    check_trace_archive(path, field, LIMITS)
    return str(path)


def _tier(text, field):
    from hw.tierconfig import MemoryTier, load_tier

    shipped = {tier.config_name for tier in MemoryTier}
    if text in shipped:
        return text
    input_file(text, field, MAX_CONFIG_FILE)
    try:
        load_tier(text)                          # parsed and checked now, before any work
    except ValueError as exc:
        raise InputError(f"{field}: {exc}") from None
    return text


trace_file = _typed(_trace, "trace file")
tier_name_or_file = _typed(_tier, "tier")
json_file = _typed(lambda text, field: str(input_file(text, field, MAX_JSON_FILE)), "JSON file")
text_file = _typed(lambda text, field: str(input_file(text, field, MAX_TEXT_FILE)), "text file")
wave_file = _typed(lambda text, field: str(input_file(text, field, MAX_WAVE_FILE)), "wave file")
new_file = _typed(lambda text, field: str(output_file(text, field)), "output file")
new_folder = _typed(lambda text, field: str(output_dir(text, field)), "output folder")


# -- environment variables ----------------------------------------------------------------------------------

_SCHEDULER = re.compile(r"(?:(?:tcp|tls|ws|wss|ucx|inproc)://)?[A-Za-z0-9_.\-\[\]:]+:([0-9]{1,5})/?")


def scheduler_address(text: str, field: str) -> str:
    """A Dask scheduler address, ``tcp://host:port`` (or ``host:port``, another Dask protocol)."""
    match = _SCHEDULER.fullmatch(text.strip())
    if not match or not 0 < int(match.group(1)) < 65536:
        raise InputError(f"{field}: {_shown(text)} is not a Dask scheduler address such as tcp://host:8786")
    return text.strip()


scheduler = _typed(scheduler_address, "scheduler address")


def check_environment() -> None:
    """The environment variables pam reads, checked before any command runs."""
    from perf.scaleout import ENV_SCHEDULER
    from sim.build_dir import ENV_VAR

    if os.environ.get(ENV_SCHEDULER):
        scheduler_address(os.environ[ENV_SCHEDULER], ENV_SCHEDULER)
    if os.environ.get(ENV_VAR):
        output_dir(Path(os.environ[ENV_VAR]).expanduser(), ENV_VAR)


def name_os_error(exc: OSError, options: dict) -> str:
    """An OS error's message, naming the option whose value is the file it is about (``options``: option
    name -> value, as parsed)."""
    what = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None:
        for option, value in options.items():
            for v in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(v, (str, os.PathLike)) and os.fspath(v) == os.fspath(exc.filename):
                    return f"{option}: {exc.filename}: {what}"
        return f"{exc.filename}: {what}"
    return what
