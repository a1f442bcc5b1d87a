"""Shared by the command modules: text or JSON output, tables, argument types."""

from __future__ import annotations

import argparse
import json
import os

from perf.scaleout import ENV_SCHEDULER
from sim.inputs import parse_int


def emit(args, data, lines):
    """Print ``data`` as JSON with --json, else the readable ``lines``."""
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print("\n".join(lines))


def table(rows, header):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in rows]



def _int_list(text: str, least: int, what: str) -> list[int]:
    try:
        values = [parse_int(x, "value") for x in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < least:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of {what} integers in ASCII "
                                         f"digits")
    return values


def positive_ints(text: str) -> list[int]:
    """argparse type: a comma-separated list of positive integers."""
    return _int_list(text, 1, "positive")


def nonnegative_ints(text: str) -> list[int]:
    """argparse type: a comma-separated list of integers >= 0."""
    return _int_list(text, 0, "non-negative")


def where_tasks_run(args) -> str:
    """Where the independent tasks run (``perf.scaleout``); the address was checked as the command line and the
    environment were read (``sim.inputs``)."""
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, not {args.workers}")
    address = args.scheduler or os.environ.get(ENV_SCHEDULER)
    if address:
        return f"as Dask tasks on the scheduler at {address}"
    workers = args.workers or os.cpu_count() or 1
    return "here, one after another" if workers == 1 else f"as Dask tasks on a local cluster of {workers} workers"
