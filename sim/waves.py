"""Read a VCD or FST (Verilator's or Amaranth's, through pywellen) and show chosen signals cycle by cycle, as a table or a picture.

* Names: Verilator appends bit ranges (``x [17:0]`` or ``x[17:0]``); they are
  stripped, and a signal is named by its dotted scope path (``top.dut.bank.cmd``).
  Verilator's ``$rootio`` scope, a copy of the top-level ports, is hidden.
* Cycles: the clock is found by name (``clk`` by default). Cycle k is the
  interval after rising edge k (counting from 0); its value is sampled at the
  following falling edge, mid-cycle, when registers and logic have settled.
  So a register's value in cycle k is what it loaded at edge k.
* Times: the file's ``$timescale`` is read; times are reported in ns.
* Signed values: signals matching ``signed`` patterns are sign-extended from
  their width (wave files carry raw bits only).
"""

from __future__ import annotations

import bisect
import dataclasses
import fnmatch
import re
from pathlib import Path

__all__ = ["WAVE_FORMATS", "WaveError", "Waves", "load_waves"]

# The formats a traced simulation writes (sim.verilator.build) and this module reads.
WAVE_FORMATS = ("vcd", "fst")

_RANGE = re.compile(r"\s*\[\d+(:\d+)?\]$")


class WaveError(ValueError):
    """Bad wave file or bad signal selection."""


def _clean(name: str) -> str:
    return _RANGE.sub("", name)


@dataclasses.dataclass
class Waves:
    """Signals sampled once per clock cycle.

    Attributes
    ----------
    names : list of str  # dotted names, bit ranges stripped
    widths : list of int
    cycles : list of int  # cycle numbers
    times_ns : list of float  # time of each sample
    values : list of list  # [signal][cycle]: int, or str for x/z
    """

    names: list
    widths: list
    cycles: list
    times_ns: list
    values: list

    def rows(self):
        for i, cycle in enumerate(self.cycles):
            yield cycle, self.times_ns[i], [v[i] for v in self.values]

    def to_json(self) -> dict:
        return {"signals": [{"name": n, "width": w} for n, w in zip(self.names, self.widths)],
                "cycles": [{"cycle": c, "time_ns": t, "values": dict(zip(self.names, vals))}
                           for c, t, vals in self.rows()]}


def _value(raw, width: int, signed: bool, text: bool = False):
    """One sample: an int, a string signal's text, or "x"/"z" for unknown bits."""
    if raw is None:
        return "x"
    if text:
        return raw
    if isinstance(raw, str):                          # four-state bits
        return "x" if "x" in raw.lower() else "z"
    if signed and width > 0 and raw >> (width - 1):
        raw -= 1 << width
    return raw


def _matches(name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name, f"*.{pattern}")


def load_waves(path: str | Path, signals: str | None = None, clock: str = "clk", first: int = 0,
               last: int | None = None, signed: str = "") -> Waves:
    """Sample ``signals`` (comma-separated glob patterns on dotted names, shown in the order given;
    default: top-level ports) from a VCD or FST file.

    ``first``/``last`` select the cycle window (inclusive); ``signed`` is a
    comma-separated list of patterns to show as two's complement. Enumerated
    signals (Amaranth's ``$var string``) keep their names as values.
    """
    import pywellen

    path = Path(path)
    if not path.exists():
        raise WaveError(f"{path}: no such file")
    if first < 0 or (last is not None and last < first):
        raise WaveError(f"cycle window --from {first} --to {last} is empty or negative")
    try:
        wave = pywellen.Waveform(str(path))
        variables = list(wave.all_vars())
    except Exception as exc:  # the reader raises its own exception types on malformed files
        raise WaveError(f"{path}: not a readable VCD or FST ({str(exc).splitlines()[0] if str(exc) else exc})") \
            from None
    # Verilator's $rootio scope repeats the top-level ports: hide it. One entry per distinct name.
    by_name: dict = {}
    for var in variables:
        name = _clean(var.full_name)
        if not name.startswith("$rootio") and name not in by_name:
            by_name[name] = var
    if not by_name:
        raise WaveError(f"{path}: the file declares no signals")
    names = list(by_name)
    clocks = [n for n in names if n.split(".")[-1] == clock]
    if not clocks:
        raise WaveError(f"{path}: no clock signal named {clock!r} (use --clock)")
    clock_name = min(clocks, key=lambda n: n.count("."))
    if signals:
        chosen = []
        for pattern in (p.strip() for p in signals.split(",")):
            chosen += [n for n in names if pattern and _matches(n, pattern) and n not in chosen]
        if not chosen:
            raise WaveError(f"--signals {signals!r} matches none of the {len(names)} signals "
                            f"(e.g. {', '.join(names[:5])})")
    else:
        depth = min(n.count(".") for n in names)
        chosen = [n for n in names if n.count(".") == depth and n != clock_name]
    scale_ns = wave.timescale.factor * 10.0 ** (wave.timescale.unit.to_exponent() + 9)
    edges = by_name[clock_name].signal
    falling, prev = [], None
    for i in range(len(edges)):
        t, v = edges[i]
        if v == 0 and prev == 1:
            falling.append(t)
        prev = v
    if not falling:
        raise WaveError(f"{path}: the clock {clock_name!r} never toggles")
    last = len(falling) - 1 if last is None else min(last, len(falling) - 1)
    if first > last:
        raise WaveError(f"--from {first} is past the last cycle ({len(falling) - 1})")
    window = range(first, last + 1)
    patterns_signed = [p.strip() for p in signed.split(",") if p.strip()]
    widths, values = [], []
    for name in chosen:
        var = by_name[name]
        width = var.bitwidth or 0                     # 0: a string (enumerated) signal
        is_signed = any(_matches(name, p) for p in patterns_signed)
        changes = var.signal
        changes = [changes[i] for i in range(len(changes))]
        times = [t for t, _ in changes]
        samples = []
        for k in window:
            i = bisect.bisect_right(times, falling[k]) - 1
            samples.append(_value(changes[i][1] if i >= 0 else None, width, is_signed, var.is_string))
        widths.append(width)
        values.append(samples)
    return Waves(chosen, widths, list(window), [falling[k] * scale_ns for k in window], values)


def format_table(waves: Waves) -> list[str]:
    """Text table: one row per cycle, one column per signal (wide values in hex)."""
    short = [n.split(".")[-1] if sum(m.split(".")[-1] == n.split(".")[-1] for m in waves.names) == 1 else n
             for n in waves.names]

    def show(v, w):
        if isinstance(v, str):
            return v
        return f"0x{v & ((1 << w) - 1):x}" if w > 16 else str(v)
    header = ["cycle", "ns", *short]
    body = [[str(c), f"{t:.1f}", *(show(v, w) for v, w in zip(vals, waves.widths))] for c, t, vals in waves.rows()]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return [fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in body]


def draw_png(waves: Waves, out: str | Path, title: str = "") -> Path:
    """A waveform picture: bits as steps, buses as labelled segments."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(waves.names)
    cycles = waves.cycles
    fig, axes = plt.subplots(n, 1, sharex=True, figsize=(max(8, min(24, len(cycles) * 0.25)), 0.55 * n + 1.2),
                             squeeze=False)
    for ax, name, width, vals in zip(axes[:, 0], waves.names, waves.widths, waves.values):
        xs = list(cycles) + [cycles[-1] + 1]
        if width == 1:
            ys = [v if isinstance(v, int) else 0.5 for v in vals]
            ax.step(xs, ys + ys[-1:], where="post", color="tab:green", linewidth=1.2)
            ax.set_ylim(-0.2, 1.2)
        else:
            start = 0
            for i in range(1, len(vals) + 1):
                if i == len(vals) or vals[i] != vals[start]:
                    x0, x1 = cycles[start], cycles[start] + (i - start)
                    ax.fill_between([x0 + 0.05, x1 - 0.05], 0.1, 0.9, color="tab:blue", alpha=0.15)
                    ax.plot([x0 + 0.05, x1 - 0.05, x1 - 0.05, x0 + 0.05, x0 + 0.05], [0.1, 0.1, 0.9, 0.9, 0.1],
                            color="tab:blue", linewidth=0.8)
                    if x1 - x0 >= 2 or len(cycles) <= 80:
                        v = vals[start]
                        label = v if isinstance(v, str) else (f"{v:x}" if width > 16 else str(v))
                        ax.text((x0 + x1) / 2, 0.5, label[:12], ha="center", va="center", fontsize=7)
                    start = i
            ax.set_ylim(0, 1)
        ax.set_yticks([])
        ax.set_ylabel(name.split(".")[-1], rotation=0, ha="right", va="center", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("cycle")
    if title:
        axes[0, 0].set_title(title, fontsize=9)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
