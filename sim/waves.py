"""Read a VCD (Verilator's or Amaranth's) and show chosen signals cycle by cycle, as a table or a picture.

* Names: Verilator appends bit ranges (``x [17:0]`` or ``x[17:0]``); they are
  stripped, and a signal is named by its dotted scope path (``top.dut.bank.cmd``).
  Verilator's ``$rootio`` scope, a copy of the top-level ports, is hidden.
* Cycles: the clock is found by name (``clk`` by default). Cycle k is the
  interval after rising edge k (counting from 0); its value is sampled at the
  following falling edge, mid-cycle, when registers and logic have settled.
  So a register's value in cycle k is what it loaded at edge k.
* Times: the file's ``$timescale`` is read; times are reported in ns.
* Signed values: signals matching ``signed`` patterns are sign-extended from
  their width (VCDs carry raw bits only).
"""

from __future__ import annotations

import bisect
import dataclasses
import fnmatch
import re
from pathlib import Path

__all__ = ["WaveError", "Waves", "load_waves"]

_RANGE = re.compile(r"\s*\[\d+(:\d+)?\]$")
_UNITS_NS = {"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1.0, "ps": 1e-3, "fs": 1e-6}


class WaveError(ValueError):
    """Bad VCD file or bad signal selection."""


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


def _value(raw: str, width: int, signed: bool):
    if raw is None:
        return "x"
    bits = raw.lower()
    if any(ch in "xz" for ch in bits):
        return "x" if "x" in bits else "z"
    value = int(bits, 2) if bits else 0
    if signed and width > 0 and value >> (width - 1):
        value -= 1 << width
    return value


def load_waves(path: str | Path, signals: str | None = None, clock: str = "clk", first: int = 0,
               last: int | None = None, signed: str = "") -> Waves:
    """Sample ``signals`` (comma-separated glob patterns on dotted names; default: top-level ports).

    ``first``/``last`` select the cycle window (inclusive); ``signed`` is a
    comma-separated list of patterns to show as two's complement.
    """
    from vcdvcd import VCDVCD

    path = Path(path)
    if not path.exists():
        raise WaveError(f"{path}: no such file")
    if first < 0 or (last is not None and last < first):
        raise WaveError(f"cycle window --from {first} --to {last} is empty or negative")
    try:
        listing = VCDVCD(str(path), only_sigs=True)
    except Exception as exc:  # vcdvcd raises bare exceptions on malformed files
        raise WaveError(f"{path}: not a readable VCD ({exc})") from None
    # Verilator's $rootio scope repeats the top-level ports: hide it.
    raw_names = [name for name in listing.signals if not name.startswith("$rootio")]
    if not raw_names:
        raise WaveError(f"{path}: the VCD declares no signals")
    clean = {raw: _clean(raw) for raw in raw_names}
    clocks = [raw for raw in raw_names if clean[raw].split(".")[-1] == clock]
    if not clocks:
        raise WaveError(f"{path}: no clock signal named {clock!r} (use --clock)")
    clock_raw = min(clocks, key=lambda raw: clean[raw].count("."))
    if signals:
        patterns = [p.strip() for p in signals.split(",") if p.strip()]
        chosen = [raw for raw in raw_names if any(fnmatch.fnmatchcase(clean[raw], p) or
                                                   fnmatch.fnmatchcase(clean[raw], f"*.{p}") for p in patterns)]
        if not chosen:
            raise WaveError(f"--signals {signals!r} matches none of the {len(raw_names)} signals "
                            f"(e.g. {', '.join(clean[r] for r in raw_names[:5])})")
    else:
        depth = min(clean[r].count(".") for r in raw_names)
        chosen = [raw for raw in raw_names if clean[raw].count(".") == depth and raw != clock_raw]
    # One entry per distinct name (a signal can appear in several scopes under one id).
    seen, unique = set(), []
    for raw in chosen:
        if clean[raw] not in seen:
            seen.add(clean[raw])
            unique.append(raw)
    vcd = VCDVCD(str(path), signals=[clock_raw, *unique], store_tvs=True)
    ts = vcd.timescale
    scale_ns = float(ts.get("magnitude", 1)) * _UNITS_NS[ts.get("unit", "ns")]
    falling = [t for (t, v), (_, prev) in zip(vcd[clock_raw].tv[1:], vcd[clock_raw].tv[:-1])
               if v == "0" and prev == "1"]
    if not falling:
        raise WaveError(f"{path}: the clock {clean[clock_raw]!r} never toggles")
    last = len(falling) - 1 if last is None else min(last, len(falling) - 1)
    if first > last:
        raise WaveError(f"--from {first} is past the last cycle ({len(falling) - 1})")
    window = range(first, last + 1)
    patterns_signed = [p.strip() for p in signed.split(",") if p.strip()]
    names, widths, values = [], [], []
    for raw in unique:
        sig = vcd[raw]
        width = int(sig.size)
        is_signed = any(fnmatch.fnmatchcase(clean[raw], p) or fnmatch.fnmatchcase(clean[raw], f"*.{p}")
                        for p in patterns_signed)
        times = [t for t, _ in sig.tv]
        samples = []
        for k in window:
            i = bisect.bisect_right(times, falling[k]) - 1
            samples.append(_value(sig.tv[i][1] if i >= 0 else None, width, is_signed))
        names.append(clean[raw])
        widths.append(width)
        values.append(samples)
    return Waves(names, widths, list(window), [falling[k] * scale_ns for k in window], values)


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
