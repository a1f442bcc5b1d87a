"""Where each KV token lives: (tier, device, bank group, bank), and the PAM reduction tree.

PAM reduces in hardware at three levels: a bank-group RU merges its banks'
PUs, a device RU (HBM logic die, DDR central buffer, SSD controller) merges its
bank groups, and the inter-device RU in HBM-PIM merges every device of every
tier. :meth:`Placement.tree` builds exactly that tree; every bank is a leaf,
so banks that hold no token of the request contribute the identity partial.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["TierShape", "Placement"]


@dataclasses.dataclass(frozen=True)
class TierShape:
    """The scaled-down shape of one tier: devices × bank groups × banks per group.

    For SSD-PIM, bank groups are flash channels and banks are per-channel PUs.
    """

    name: str
    devices: int
    bank_groups: int
    banks: int

    def __post_init__(self):
        for field in ("devices", "bank_groups", "banks"):
            value = getattr(self, field)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"tier {self.name!r}: {field} must be a positive integer, not {value!r}")

    @property
    def banks_total(self) -> int:
        return self.devices * self.bank_groups * self.banks


@dataclasses.dataclass(frozen=True)
class Placement:
    """Token coordinates over a set of tiers.

    Attributes
    ----------
    tiers : tuple of TierShape
    coords : int array  # [tokens, 4]: tier, device, bank_group, bank
    """

    tiers: tuple[TierShape, ...]
    coords: np.ndarray

    def __post_init__(self):
        coords = np.asarray(self.coords)
        if coords.ndim != 2 or coords.shape[1] != 4 or coords.dtype.kind not in "iu":
            raise ValueError(f"coords must be an integer array [tokens, 4], got {coords.dtype} {coords.shape}")
        if not self.tiers:
            raise ValueError("a placement needs at least one tier")
        object.__setattr__(self, "coords", coords.astype(np.int64))
        if len(coords) == 0:
            return
        tier = coords[:, 0]
        bad = (tier < 0) | (tier >= len(self.tiers))
        if bad.any():
            t = int(np.flatnonzero(bad)[0])
            raise ValueError(f"token {t}: tier {int(tier[t])} out of range 0..{len(self.tiers) - 1}")
        limits = np.array([[s.devices, s.bank_groups, s.banks] for s in self.tiers])[tier]
        bad = (coords[:, 1:] < 0) | (coords[:, 1:] >= limits)
        if bad.any():
            t, axis = (int(i) for i in np.argwhere(bad)[0])
            name = ("device", "bank_group", "bank")[axis]
            raise ValueError(f"token {t}: {name} {int(coords[t, axis + 1])} out of range "
                             f"0..{int(limits[t, axis]) - 1} in tier {self.tiers[tier[t]].name!r}")

    @property
    def tokens(self) -> int:
        return len(self.coords)

    def bank_index(self) -> np.ndarray:
        """Flat bank number of each token, tiers in order, then devices, groups, banks."""
        offsets = np.cumsum([0] + [s.banks_total for s in self.tiers])
        shape = np.array([[s.bank_groups, s.banks] for s in self.tiers])
        tier, dev, bg, bank = self.coords.T
        groups, banks = shape[tier, 0], shape[tier, 1]
        return offsets[tier] + (dev * groups + bg) * banks + bank

    def partitions(self) -> list[np.ndarray]:
        """Token indices per bank, for every bank (empty banks give empty arrays)."""
        total = sum(s.banks_total for s in self.tiers)
        flat = self.bank_index()
        order = np.argsort(flat, kind="stable")
        bounds = np.searchsorted(flat[order], np.arange(total + 1))
        return [order[bounds[i]:bounds[i + 1]] for i in range(total)]

    def tree(self) -> tuple:
        """PAM's reduction tree over :meth:`partitions`: top <- devices <- bank groups <- banks."""
        devices, leaf = [], 0
        for shape in self.tiers:
            for _ in range(shape.devices):
                groups = []
                for _ in range(shape.bank_groups):
                    groups.append(tuple(range(leaf, leaf + shape.banks)))
                    leaf += shape.banks
                devices.append(tuple(groups))
        return tuple(devices)
