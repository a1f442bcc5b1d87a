"""Tier parameter sets (timing, geometry, PU sizes), read from ``hw/configs/<name>.toml``.

DRAM tiers (HBM3, DDR4) give bank timings in memory-clock cycles, as in the
paper's Table 1 (``[timing]``); the flash tier (SSD) gives its page read time
in controller cycles and its channel's rate (``[flash]``). Each config file
marks every value as from the paper or assumed, with its reason.
"""

from __future__ import annotations

import dataclasses
import enum
import tomllib
from fractions import Fraction
from importlib import resources
from pathlib import Path

from golden.validate import check_number

__all__ = ["MemoryTier", "BankTiming", "FlashTiming", "BankGeometry", "TierConfig", "load_tier"]


class MemoryTier(enum.IntEnum):
    """The memory tiers, fastest first; the value is the tier's index wherever tiers are listed in order."""

    HBM = 0
    DDR = 1
    SSD = 2

    @property
    def key(self) -> str:
        """Lower-case name: the key of config tables, links (``hbm_ddr``) and reports (``"hbm"``)."""
        return self.name.lower()

    @property
    def label(self) -> str:
        """The name a reader sees (``"HBM"``)."""
        return self.name

    @property
    def config_name(self) -> str:
        """The shipped tier config, ``hw/configs/<config_name>.toml`` (``"hbm3"``)."""
        return _CONFIG_NAMES[self]

    @classmethod
    def from_config(cls, name: str) -> "MemoryTier":
        """The tier whose shipped config is ``name`` (``"hbm3"`` -> HBM)."""
        for tier in cls:
            if tier.config_name == name:
                return tier
        raise ValueError(f"unknown tier {name!r}; choose one of {[t.config_name for t in cls]}")


MAX_MHZ = 100_000.0            # a clock above 100 GHz is a typo, not a design point

_CONFIG_NAMES = {MemoryTier.HBM: "hbm3", MemoryTier.DDR: "ddr4", MemoryTier.SSD: "ssd"}


def _check_positive_ints(obj, section: str) -> None:
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{section}.{field.name}: must be a positive integer, not {value!r}")


@dataclasses.dataclass(frozen=True)
class BankTiming:
    tRCD: int
    tRP: int
    tRAS: int
    tCCD_L: int
    tBL: int
    tCL: int
    tWR: int
    tRTP: int
    tREFI: int
    tRFC: int

    def __post_init__(self):
        _check_positive_ints(self, "timing")
        if self.tREFI <= self.tRFC + self.tRP:
            raise ValueError(f"timing.tREFI: {self.tREFI} leaves no time between refreshes "
                             f"(tRFC {self.tRFC} + tRP {self.tRP})")

    @property
    def column_period(self) -> int:
        """Minimum cycles between column commands to one bank: max(tCCD_L, tBL)."""
        return max(self.tCCD_L, self.tBL)


@dataclasses.dataclass(frozen=True)
class FlashTiming:
    """A flash die on a shared channel: a page read takes ``tR`` controller cycles, then the page's
    bytes cross the channel (``channel_mts`` transfers/s of ``channel_bits``), which the
    ``dies_per_channel`` dies share."""
    tR: int
    channel_mts: int
    channel_bits: int
    dies_per_channel: int

    def __post_init__(self):
        _check_positive_ints(self, "flash")
        if self.channel_bits % 8:
            raise ValueError(f"flash.channel_bits: {self.channel_bits} is not a whole number of bytes")

    def column_cycles(self, column_bits: int, clock_mhz: float, sharers: int) -> Fraction:
        """Controller cycles one die needs to move one column over its 1/``sharers`` share of the channel."""
        channel_bytes_per_us = Fraction(self.channel_mts * self.channel_bits // 8)   # MT/s x bytes = bytes/us
        return Fraction(column_bits // 8) * Fraction(clock_mhz) * sharers / channel_bytes_per_us


@dataclasses.dataclass(frozen=True)
class BankGeometry:
    column_bits: int
    columns_per_row: int
    rows: int

    def __post_init__(self):
        _check_positive_ints(self, "geometry")
        if self.column_bits % 16:
            raise ValueError(f"geometry.column_bits: {self.column_bits} is not a whole number of 16-bit lanes")

    @property
    def lanes(self) -> int:
        return self.column_bits // 16


@dataclasses.dataclass(frozen=True)
class TierConfig:
    name: str
    memory_mhz: float
    pu_mhz: float
    timing: BankTiming | FlashTiming
    geometry: BankGeometry
    lanes: int
    buffer_bytes: int
    kv_fifo_columns: int = 0      # the bank-to-PU decoupling FIFO (hw.bankpu), in columns; 0: none

    @property
    def is_flash(self) -> bool:
        return isinstance(self.timing, FlashTiming)

    def with_rows(self, rows: int) -> "TierConfig":
        """The same tier with a smaller bank, for simulation."""
        return dataclasses.replace(self, geometry=dataclasses.replace(self.geometry, rows=rows))


def _section(doc: dict, name: str, path: str) -> dict:
    if not isinstance(doc.get(name), dict):
        raise ValueError(f"{path}: section [{name}] missing")
    return doc[name]


def _build(cls, table: dict, section: str, path: str):
    names = {f.name for f in dataclasses.fields(cls)}
    missing = sorted(names - set(table))
    unknown = sorted(set(table) - names)
    if missing:
        raise ValueError(f"{path}: {section}.{missing[0]} missing")
    if unknown:
        raise ValueError(f"{path}: {section}.{unknown[0]} is not a known parameter")
    return cls(**table)


def load_tier(name_or_path: str | Path) -> TierConfig:
    """Load ``hbm3``/``ddr4``/``ssd`` (shipped) or a TOML file path; errors name the file and field."""
    if isinstance(name_or_path, Path) or str(name_or_path).endswith(".toml"):
        path = Path(name_or_path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ValueError(f"{path}: cannot read ({exc.strerror})") from None
    elif name_or_path in _CONFIG_NAMES.values():
        path = Path(f"hw/configs/{name_or_path}.toml")
        text = resources.files("hw").joinpath("configs", f"{name_or_path}.toml").read_text()
    else:
        raise ValueError(f"unknown tier {name_or_path!r}; choose one of {list(_CONFIG_NAMES.values())} or a .toml path")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from None
    clock = _section(doc, "clock", path)
    pu = _section(doc, "pu", path)
    try:
        if "flash" in doc:
            timing = _build(FlashTiming, _section(doc, "flash", path), "flash", path)
        else:
            timing = _build(BankTiming, _section(doc, "timing", path), "timing", path)
        geometry = _build(BankGeometry, _section(doc, "geometry", path), "geometry", path)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}" if not str(exc).startswith(str(path)) else str(exc)) from None
    for section, table, key, most in (("clock", clock, "memory_mhz", MAX_MHZ), ("clock", clock, "pu_mhz", MAX_MHZ),
                                      ("pu", pu, "lanes", None), ("pu", pu, "buffer_bytes", None)):
        try:
            check_number(table.get(key), f"{section}.{key}", above=0, most=most)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    fifo = pu.get("kv_fifo_columns", 0)
    if not isinstance(fifo, int) or isinstance(fifo, bool) or fifo < 0:
        raise ValueError(f"{path}: pu.kv_fifo_columns must be a whole number >= 0, not {fifo!r}")
    unknown = sorted(set(pu) - {"lanes", "buffer_bytes", "kv_fifo_columns"})
    if unknown:
        raise ValueError(f"{path}: pu.{unknown[0]} is not a known parameter")
    if pu["lanes"] != geometry.lanes:
        raise ValueError(f"{path}: pu.lanes {pu['lanes']} does not match geometry.column_bits "
                         f"{geometry.column_bits} / 16 = {geometry.lanes}")
    return TierConfig(doc.get("name", path.stem), float(clock["memory_mhz"]), float(clock["pu_mhz"]),
                      timing, geometry, int(pu["lanes"]), int(pu["buffer_bytes"]), fifo)
