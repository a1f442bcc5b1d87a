"""Checks of input values that every layer shares: numbers from config files, JSON nesting.

A failed check raises :class:`InputError`, a ``ValueError`` whose message starts with the field it is about.
The command line's own boundary (``sim/inputs.py``) builds on these.
"""

from __future__ import annotations

import math

__all__ = ["InputError", "MAX_JSON_DEPTH", "check_json_depth", "check_number"]

MAX_JSON_DEPTH = 64


class InputError(ValueError):
    """Bad input: the message names the option, field or variable, and the value."""


def check_number(value, field: str, least: float | None = None, most: float | None = None,
                 integer: bool = False, above: float | None = None):
    """``value`` from a config file: a real number (not a bool, not a string), finite, an integer if asked,
    ``>= least``, ``> above`` and ``<= most`` where given. Returns it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{field}: {value!r} is not a number")
    if not math.isfinite(value):
        raise InputError(f"{field}: {value!r} is not finite")
    if integer and not isinstance(value, int):
        raise InputError(f"{field}: {value!r} is not an integer")
    if least is not None and value < least:
        raise InputError(f"{field}: {value!r} is below the least value, {least}")
    if above is not None and not value > above:
        raise InputError(f"{field}: {value!r} must be above {above}")
    if most is not None and value > most:
        raise InputError(f"{field}: {value!r} is above the limit of {most:,}")
    return value


def check_json_depth(text: str, field: str, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON nested deeper than ``max_depth``, in one pass that does not recurse."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                raise InputError(f"{field}: JSON nested deeper than {max_depth} levels")
        elif char in "]}":
            depth -= 1
