"""The sizes ``pam`` accepts, checked before a command starts: each option's least and most value, and why.

A value outside its range is refused in one line that names the option, the value and the limit, before
anything is allocated, built or simulated. The most values are what fits in memory (24 GiB) and time (a run of
minutes on 2 cores) at the sizes the code holds, not architectural limits of PAM.
"""

from __future__ import annotations

import argparse

__all__ = ["LIMITS", "check_limits", "flag_of"]

_RTL = "a larger one takes hours to elaborate and build"
_MEMORY = "the golden model and traces hold every value in memory"

# dest: (least, most or None, why the most)
LIMITS: dict[str, tuple[float, float | None, str]] = {
    "tokens": (1, 1 << 22, _MEMORY),
    "steps": (1, 1 << 16, _MEMORY),
    "q_heads": (1, 1024, _MEMORY),
    "kv_heads": (1, 1024, _MEMORY),
    "head_dim": (1, 1024, "the PU's O registers and the golden model's vectors grow with it"),
    "lanes": (1, 256, _RTL),
    "banks": (1, 4096, "each bank is a PU in the RTL and a partial in the golden model"),
    "bank_groups": (1, 64, _RTL),
    "block": (1, 1 << 16, "the PU's score buffer"),
    "max_group": (1, 64, "the PU's score buffer holds Bt x G scores"),
    "group": (1, 64, "the PU's score buffer holds Bt x G scores"),
    "groups": (1, 64, "the PU's score buffer holds Bt x G scores"),
    "rows": (1, 1 << 16, "a simulated bank holds every row in the simulator's memory"),
    "reads": (1, 1 << 27, "a run of minutes"),
    "load": (0, 1 << 22, "columns written before the reads, one command each"),
    "random": (0, 1 << 27, "a run of minutes"),
    "requests": (1, 4096, _MEMORY),
    "contexts": (64, 1 << 20, _MEMORY),
    "max_tokens": (1, 1 << 20, "the sweep's longest context, in memory"),
    "tokens_per_bank": (1, 1 << 16, "a run of minutes"),
    "pu_tokens": (1, 1 << 20, "a run of minutes"),
    "seed": (0, (1 << 32) - 1, "NumPy seeds are unsigned 32-bit here"),
    "kv_head": (0, None, ""),
    "step": (0, None, ""),
    "max_moves": (0, 1 << 20, _MEMORY),
    "sparsity": (1e-6, 1.0, "a fraction of the context"),
    "lam": (0.0, 1.0, "Eq. 7 weighs two terms by lambda and 1 - lambda"),
    "x": (1e-6, None, ""),
    "y": (1e-6, None, ""),
    "commands": (1, 1 << 24, "a run of minutes"),
    "resets": (0, 1 << 16, "a run of minutes"),
    "decode_steps": (1, 1 << 30, "a run of hours"),
    "concurrent": (1, 1024, _MEMORY),
    "audit_every": (1, None, ""),
    "wave_depth": (0, 16, "deeper than the designs go"),
    "window_requests": (100, 100_000, "a pam eval of hours"),
    "first": (0, None, ""),
    "last": (0, None, ""),
}


def flag_of(dest: str) -> str:
    """The option an argparse dest comes from (positional arguments keep their name)."""
    if dest in ("file", "files", "unit", "units"):
        return dest
    return {"first": "--from", "last": "--to"}.get(dest, "--" + dest.replace("_", "-"))


def check_limits(args: argparse.Namespace) -> None:
    """Raise ValueError naming the first option of ``args`` outside its range in :data:`LIMITS`."""
    for dest, (least, most, why) in LIMITS.items():
        value = getattr(args, dest, None)
        if value is None or isinstance(value, str):
            continue
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v < least:
                raise ValueError(f"{flag_of(dest)}: {v} is below the least value, {least}")
            if most is not None and v > most:
                raise ValueError(f"{flag_of(dest)}: {v} is above the limit of {most:,} ({why})")
