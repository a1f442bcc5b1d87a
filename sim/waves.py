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
* Shown values: unknown bits as ``x`` or ``z`` (drawn red and hatched),
  enumerated signals by their names, numbers in the radix that ``--radix``
  chooses per signal (``auto``: decimal up to 16 bits, hex above), and a value
  too wide for its place cut with ``…``. Rows are labelled by the shortest
  dotted suffix that tells them apart.
* A GTKWave save file (``write_gtkw``) opens the same signals, grouped by
  scope, in the same radix.
"""

from __future__ import annotations

import bisect
import dataclasses
import fnmatch
import math
import re
from pathlib import Path

__all__ = ["WAVE_FORMATS", "RADIXES", "WaveError", "Waves", "load_waves", "labels", "radix_chooser", "show_value",
           "format_table", "draw_png", "write_gtkw"]

# The formats a traced simulation writes (sim.verilator.build) and this module reads.
WAVE_FORMATS = ("vcd", "fst")

_RANGE = re.compile(r"\s*\[\d+(:\d+)?\]$")
RADIXES = ("auto", "bin", "hex", "dec")
TABLE_CHARS = 34                      # a table cell longer than this is cut with an ellipsis


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
    path: str = ""                    # the file they came from
    timescale_ns: float = 1.0         # one time unit of the file, in ns
    declared: list = dataclasses.field(default_factory=list)    # each signal's name as the file declares it

    def rows(self):
        for i, cycle in enumerate(self.cycles):
            yield cycle, self.times_ns[i], [v[i] for v in self.values]

    def first_change(self) -> int:
        """Index of the first sample at which a shown signal changes (0 when none does): where the
        interesting part of the window starts."""
        for i in range(1, len(self.cycles)):
            if any(v[i] != v[i - 1] for v in self.values):
                return i
        return 0

    def window(self, start: int, count: int) -> "Waves":
        """The samples ``start`` to ``start + count`` (exclusive), as Waves of their own."""
        cut = slice(start, start + count)
        return dataclasses.replace(self, cycles=self.cycles[cut], times_ns=self.times_ns[cut],
                                   values=[v[cut] for v in self.values])

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
            matched = [n for n in names if pattern and _matches(n, pattern)]
            if not matched:
                raise WaveError(f"--signals: {pattern!r} matches none of the {len(names)} signals "
                                f"(e.g. {', '.join(names[:5])})")
            chosen += [n for n in matched if n not in chosen]
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
    return Waves(chosen, widths, list(window), [falling[k] * scale_ns for k in window], values, str(path),
                 scale_ns, [n + (f"[{w - 1}:0]" if w > 1 else "") for n, w in zip(chosen, widths)])


def labels(names: list[str]) -> list[str]:
    """Each dotted name shortened to its shortest suffix that no other name ends with."""
    out = []
    for name in names:
        parts = name.split(".")
        for k in range(1, len(parts) + 1):
            suffix = ".".join(parts[-k:])
            if sum(n == suffix or n.endswith("." + suffix) for n in names) == 1:
                break
        out.append(suffix)
    return out


def radix_chooser(spec: str = "auto"):
    """``spec`` is one radix for every signal (``auto``, ``bin``, ``hex``, ``dec``) or comma-separated
    ``pattern=radix`` pairs (``'*active=bin,*=hex'``; the first match wins, the rest ``auto``). Returns
    ``choose(name, width) -> radix``."""
    rules = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        pattern, _, radix = part.rpartition("=")
        if radix not in RADIXES:
            raise WaveError(f"--radix {spec!r}: {radix!r} is not one of {', '.join(RADIXES)}")
        rules.append((pattern or "*", radix))

    def choose(name: str, width: int) -> str:
        radix = next((r for p, r in rules if _matches(name, p)), "auto")
        return ("dec" if width <= 16 else "hex") if radix == "auto" else radix
    return choose


def show_value(value, width: int, radix: str, limit: int | None = None) -> str:
    """One sample as text: ``x``/``z`` and enum names as they are, numbers in ``radix`` with all their
    digits (``0b``/``0x`` padded to the width), cut to ``limit`` characters with ``…``."""
    if isinstance(value, str):
        text = value
    elif radix == "bin":
        text = f"0b{value & ((1 << width) - 1):0{max(width, 1)}b}"
    elif radix == "hex":
        text = f"0x{value & ((1 << width) - 1):0{max(1, -(-width // 4))}x}"
    else:
        text = str(value)
    if limit is not None and len(text) > limit:
        text = text[:max(limit - 1, 1)] + "…"
    return text


def format_table(waves: Waves, radix: str = "auto") -> list[str]:
    """Text table: one row per cycle, one column per signal, labelled by ``labels``, values by ``show_value``."""
    choose = radix_chooser(radix)
    radixes = [choose(n, w) for n, w in zip(waves.names, waves.widths)]
    header = ["cycle", "ns", *labels(waves.names)]
    body = [[str(c), f"{t:.1f}", *(show_value(v, w, r, TABLE_CHARS) for v, w, r in zip(vals, waves.widths, radixes))]
            for c, t, vals in waves.rows()]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return [fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in body]


def draw_png(waves: Waves, out: str | Path, title: str = "", radix: str = "auto") -> Path:
    """A waveform picture: bits as steps, buses as labelled segments, x/z red and hatched; one row per
    signal, legible at screen size (at most 16 inches wide, 10-point labels)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    choose = radix_chooser(radix)
    n = len(waves.names)
    cycles = waves.cycles
    width_in = max(8.0, min(16.0, len(cycles) * 0.12))
    fig, axes = plt.subplots(n, 1, sharex=True, figsize=(width_in, 0.6 * n + 1.4), squeeze=False)
    chars_per_cycle = width_in * 72 / 7.5 / max(len(cycles), 1)    # label characters that fit in one cycle
    for ax, name, label, width, vals in zip(axes[:, 0], waves.names, labels(waves.names), waves.widths,
                                            waves.values):
        r = choose(name, width)
        start = 0
        for i in range(1, len(vals) + 1):
            if i < len(vals) and vals[i] == vals[start]:
                continue
            x0, x1 = cycles[start], cycles[start] + (i - start)
            v = vals[start]
            unknown = v in ("x", "z")
            if width == 1 and not unknown:
                ax.plot([x0, x1], [v, v], color="tab:green", linewidth=1.4)
                if i < len(vals) and vals[i] not in ("x", "z"):
                    ax.plot([x1, x1], [0, 1], color="tab:green", linewidth=1.4)
            else:
                face, hatch = ("tab:red", "///") if unknown else ("tab:blue", None)
                ax.fill_between([x0 + 0.05, x1 - 0.05], 0.1, 0.9, facecolor=face, alpha=0.18, hatch=hatch,
                                edgecolor=face)
                ax.plot([x0 + 0.05, x1 - 0.05, x1 - 0.05, x0 + 0.05, x0 + 0.05], [0.1, 0.1, 0.9, 0.9, 0.1],
                        color=face, linewidth=0.8)
                room = int((x1 - x0) * chars_per_cycle)
                if room >= 2 or unknown:
                    ax.text((x0 + x1) / 2, 0.5, show_value(v, width, r, max(room, 1)), ha="center", va="center",
                            fontsize=9, color="tab:red" if unknown else "black")
            start = i
        ax.set_ylim(-0.15, 1.15)
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=9)
    axes[-1, 0].set_xlabel("cycle", fontsize=10)
    axes[-1, 0].set_xlim(cycles[0], cycles[-1] + 1)
    axes[-1, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        axes[0, 0].set_title(title, fontsize=11)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


# GTKWave trace flags: right-justified, and the radix; a blank row that opens or closes a group.
_GTKW_FLAGS = {"bin": "@28", "hex": "@22", "dec": "@24"}
_GTKW_GROUP_BEGIN, _GTKW_GROUP_END = "@800200", "@1000200"
GTKW_WAVE_PIXELS, GTKW_NAME_PIXELS = 1000, 300         # the save file's window: wave area and signal names
# GTKWave shows 2**-zoom time units per frame of 200 pixels (calczoom(): pixelsperframe = 200, nspx = frame/ppf).
GTKW_PIXELS_PER_FRAME = 200


def write_gtkw(waves: Waves, out: str | Path, radix: str = "auto", marker: int | None = None) -> Path:
    """A GTKWave save file that opens ``waves.path`` where :func:`draw_png` looks: the same signals, grouped by
    their scope, in the same radix, the view starting at the window's first cycle and zoomed to its length,
    with the marker at cycle ``marker`` (default: the first change in the window): ``gtkwave <out>``."""
    choose = radix_chooser(radix)
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(waves.names):
        groups.setdefault(name.rpartition(".")[0], []).append(i)
    unit = waves.timescale_ns
    period = (waves.times_ns[1] - waves.times_ns[0]) if len(waves.times_ns) > 1 else 2 * unit
    start = max(0.0, waves.times_ns[0] - period / 2)          # cycle k starts at its rising edge
    span = max(period * len(waves.cycles), unit)
    zoom = -math.log2(span / unit / GTKW_WAVE_PIXELS * GTKW_PIXELS_PER_FRAME)
    at = waves.first_change() if marker is None else max(0, min(marker - waves.cycles[0], len(waves.cycles) - 1))
    marker_time = waves.times_ns[at] - period / 2 if waves.times_ns else 0.0
    lines = [f'[dumpfile] "{Path(waves.path).resolve()}"', f"[timestart] {round(start / unit)}",
             f"[size] {GTKW_WAVE_PIXELS + GTKW_NAME_PIXELS} 600", f"[signals_width] {GTKW_NAME_PIXELS}",
             "[sst_expanded] 0", f"*{zoom:.6f} {round(marker_time / unit)}" + " -1" * 26]
    for scope, members in groups.items():
        lines += [_GTKW_GROUP_BEGIN, f"-{scope or 'top'}"]
        for i in members:
            lines += [_GTKW_FLAGS[choose(waves.names[i], max(waves.widths[i], 1))], waves.declared[i]]
        lines += [_GTKW_GROUP_END, f"-{scope or 'top'}"]
    out = Path(out)
    out.write_text("\n".join(lines) + "\n")
    return out
