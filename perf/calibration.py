"""The calibration file: the RTL's measured cycle costs, as the system model reads them.

``pam calibrate`` (``sim/calibrate.py``) measures the RTL and writes the file; the node model
(``perf/node.py``) reads it and nothing else of the RTL. This module knows the format only: where the
shipped file is, how a file is loaded and checked, and how a partial run merges over a complete one. It
imports no gateware and no simulator.

A file holds ``format`` (the KV's float format, ``golden.formats``) and ``head_dim`` of the runs, and two
sections:

* ``pu``: per tier and GQA group, ``cycles_per_token`` (marginal PU cycles per token of one kv head, in
  the tier's memory clock ``clock_mhz``) and ``fixed_cycles`` (a run's cost beyond its tokens);
* ``ru``: per tier, ``cycles_per_partial`` (RU cycles per merged partial).
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from golden.validate import check_json_depth

from golden.formats import format_by_name

__all__ = ["CALIBRATION_FILE", "check_calibration", "load_calibration", "merge_calibration",
           "shipped_calibration_path"]

CALIBRATION_FILE = "calibration.json"


def shipped_calibration_path() -> Path:
    """The calibration that ships with the project (read-only: ``pam calibrate`` never writes it)."""
    return Path(str(resources.files("perf").joinpath("configs", CALIBRATION_FILE)))


def _pu_key(entry: dict) -> tuple:
    return entry["tier"], entry["group"]


def merge_calibration(measured: dict, base: dict, base_path: Path) -> dict:
    """``measured`` over ``base``: a measured PU entry replaces the base's of the same (tier, group), a measured
    RU entry the base's of the same tier, and every other base entry is kept, so a partial run (one tier, one
    group) still gives the model every tier. Entries say where they came from (``origin``). Refused when the
    two differ in format or head_dim, which the model cannot mix."""
    for field in ("format", "head_dim"):
        if measured[field] != base.get(field):
            raise ValueError(f"{field}: this run's {measured[field]!r} differs from {base.get(field)!r} of "
                             f"{base_path}; name a complete calibration to merge with, or run every tier and group")
    pu = {_pu_key(e): dict(e, origin="measured") for e in measured["pu"]}
    ru = {e["tier"]: dict(e, origin="measured") for e in measured["ru"]}
    kept_pu = [dict(e, origin=str(base_path)) for e in base["pu"] if _pu_key(e) not in pu]
    kept_ru = [dict(e, origin=str(base_path)) for e in base["ru"] if e["tier"] not in ru]
    return dict(measured, merged_with=str(base_path), pu=[*pu.values(), *kept_pu], ru=[*ru.values(), *kept_ru])


def load_calibration(path: str | os.PathLike | None = None) -> dict:
    """A calibration file (default: the shipped ``perf/configs/calibration.json``), checked for the fields the
    model reads."""
    path = Path(path) if path else shipped_calibration_path()
    try:
        text = path.read_bytes().decode("utf-8")
        check_json_depth(text, f"calibration file {path}")
        data = json.loads(text)
    except FileNotFoundError:
        raise ValueError(f"calibration file {path} does not exist: run pam calibrate") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"calibration file {path} is not JSON: {exc}") from None
    check_calibration(data, path)
    return data


def check_calibration(data: dict, path) -> None:
    """Raise ValueError, naming ``path`` and the field, unless ``data`` has every field the model reads."""
    if not isinstance(data, dict):
        raise ValueError(f"calibration file {path}: not a JSON object")
    for section in ("pu", "ru"):
        if not isinstance(data.get(section), list) or not data[section]:
            raise ValueError(f"calibration file {path}: section {section!r} is missing or empty")
    needs = {"pu": ("tier", "head_dim", "group", "cycles_per_token", "fixed_cycles", "clock_mhz"),
             "ru": ("tier", "cycles_per_partial")}
    for section, fields in needs.items():
        for entry in data[section]:
            if not isinstance(entry, dict):
                raise ValueError(f"calibration file {path}: a {section} entry is {type(entry).__name__}, not an object")
            for field in fields:
                if field not in entry:
                    raise ValueError(f"calibration file {path}: a {section} entry lacks {field!r}")
    for entry in data["pu"]:
        if not entry["cycles_per_token"] > 0:
            raise ValueError(f"calibration file {path}: pu {entry['tier']} G={entry['group']} has "
                             f"cycles_per_token {entry['cycles_per_token']!r}")
    try:
        format_by_name(data.get("format"))
    except ValueError as exc:
        raise ValueError(f"calibration file {path}: format: {exc}") from None
