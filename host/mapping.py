"""Intra-device mapping: which bank group, bank, row and column each token gets.

Level 1: a new token goes to the bank group with the fewest activations over
a sliding window of steps (10 by default). Ties go to the fewer tokens held,
then to the lower index. An activation is one token of the group that the
step's attention selected. Bank groups with fewer activations finish their
step sooner, so this minimises max_bg T_bg greedily.

Level 2: inside a bank group, tokens fill *stripes*. A stripe is the same
(row, column range) in every bank of the group; its k-th token goes to bank
k. One all-bank command then reads a whole stripe in lockstep. A stripe
belongs to one request, so no all-bank command ever touches two requests'
KV. A token takes ``columns_per_token`` consecutive columns (its K and V
rows for one kv head).

Addresses are (tier, device, channel, bank_group, bank, row, column), on the
geometry of ``hw/configs/<tier>.toml`` plus the device's shape.
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np

__all__ = ["DeviceShape", "Address", "DeviceMapper"]


@dataclasses.dataclass(frozen=True)
class DeviceShape:
    """One device: channels × bank groups × banks, banks of ``rows`` × ``columns_per_row``."""

    tier: int
    device: int
    channels: int
    bank_groups: int
    banks: int
    rows: int
    columns_per_row: int
    columns_per_token: int

    def __post_init__(self):
        for field in ("channels", "bank_groups", "banks", "rows", "columns_per_row", "columns_per_token"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{field} must be a positive integer, not {value!r}")
        if self.columns_per_token > self.columns_per_row:
            raise ValueError(f"a token ({self.columns_per_token} columns) does not fit in a row "
                             f"of {self.columns_per_row} columns")

    @classmethod
    def from_tier(cls, config, tier: int, device: int, channels: int, bank_groups: int, banks: int,
                  token_bytes: int) -> "DeviceShape":
        """A device of the tier ``config`` (``hw.tierconfig.TierConfig``): rows and columns from its
        bank geometry, a token taking ceil(token_bytes / column bytes) columns."""
        geo = config.geometry
        return cls(tier, device, channels, bank_groups, banks, geo.rows, geo.columns_per_row,
                   -(-token_bytes * 8 // geo.column_bits))

    def with_rows(self, rows: int) -> "DeviceShape":
        """The same device with fewer rows per bank (a scaled-down capacity)."""
        return dataclasses.replace(self, rows=rows)

    @property
    def groups(self) -> int:
        """Bank groups over all channels (each is one level-1 target)."""
        return self.channels * self.bank_groups

    @property
    def stripes_per_group(self) -> int:
        return self.rows * (self.columns_per_row // self.columns_per_token)

    @property
    def capacity(self) -> int:
        return self.groups * self.stripes_per_group * self.banks


@dataclasses.dataclass(frozen=True)
class Address:
    tier: int
    device: int
    channel: int
    bank_group: int
    bank: int
    row: int
    column: int


class DeviceMapper:
    """Maps tokens of many requests onto one device.

    Parameters
    ----------
    shape : DeviceShape
    window : int
        Steps of activation history that level 1 looks at.
    """

    def __init__(self, shape: DeviceShape, window: int = 10):
        if window < 1:
            raise ValueError(f"window must be >= 1, not {window}")
        self.shape, self.window = shape, window
        self._history: collections.deque = collections.deque(maxlen=window)   # per step: activations per group
        self._recent = np.zeros(shape.groups, np.int64)                        # sum over the window
        self._held = np.zeros(shape.groups, np.int64)                          # tokens per group
        self._free = [list(range(shape.stripes_per_group - 1, -1, -1)) for _ in range(shape.groups)]
        self._open: dict[tuple[int, int], tuple[int, int]] = {}                # (request, group) -> (stripe, used)
        self._where: dict[tuple[int, int], tuple[int, int, int]] = {}         # (request, token) -> (group, stripe, bank)
        self._stripe_tokens: dict[tuple[int, int], int] = {}                   # (group, stripe) -> live tokens
        self._holes: dict[tuple[int, int], list] = {}                          # (request, group) -> vacated slots

    # -- placement --------------------------------------------------------------

    def place(self, request: int, token: int, group: int | None = None) -> Address:
        """Give (request, token) a slot; raises ValueError if it is placed already or the device is full.

        ``group`` overrides level 1 (for baseline policies); level 2 still applies.
        """
        key = (request, token)
        if key in self._where:
            raise ValueError(f"request {request} token {token} is already placed")
        if group is not None and not 0 <= group < self.shape.groups:
            raise ValueError(f"group {group} out of range 0..{self.shape.groups - 1}")
        order = np.lexsort((np.arange(self.shape.groups), self._held, self._recent)) if group is None else [group]
        for group in order:
            slot = self._slot_in(int(group), request)
            if slot is not None:
                stripe, bank = slot
                self._where[key] = (int(group), stripe, bank)
                self._held[group] += 1
                self._stripe_tokens[int(group), stripe] = self._stripe_tokens.get((int(group), stripe), 0) + 1
                return self.address(request, token)
        raise ValueError(f"device {self.shape.device} of tier {self.shape.tier} is full "
                         f"({self.shape.capacity} token slots)")

    def _slot_in(self, group: int, request: int):
        holes = self._holes.get((request, group))
        if holes:
            return holes.pop()
        stripe, used = self._open.get((request, group), (None, self.shape.banks))
        if used == self.shape.banks:
            if not self._free[group]:
                return None
            stripe, used = self._free[group].pop(), 0
        self._open[request, group] = (stripe, used + 1)
        return stripe, used

    def address(self, request: int, token: int) -> Address:
        try:
            group, stripe, bank = self._where[request, token]
        except KeyError:
            raise ValueError(f"request {request} token {token} is not placed on this device") from None
        s = self.shape
        per_row = s.columns_per_row // s.columns_per_token
        return Address(s.tier, s.device, group // s.bank_groups, group % s.bank_groups, bank,
                       stripe // per_row, (stripe % per_row) * s.columns_per_token)

    def free_token(self, request: int, token: int) -> None:
        """Free one token (it migrated away). The slot is refilled by the same request's next token
        in that bank group; a stripe with no live token returns to the free list."""
        key = (request, token)
        if key not in self._where:
            raise ValueError(f"request {request} token {token} is not placed on this device")
        group, stripe, bank = self._where.pop(key)
        self._held[group] -= 1
        self._stripe_tokens[group, stripe] -= 1
        holes = self._holes.setdefault((request, group), [])
        if self._stripe_tokens[group, stripe] > 0:
            holes.append((stripe, bank))
            return
        del self._stripe_tokens[group, stripe]
        holes[:] = [h for h in holes if h[0] != stripe]
        if self._open.get((request, group), (None,))[0] == stripe:
            del self._open[request, group]
        self._free[group].append(stripe)

    def free_request(self, request: int) -> int:
        """Free every token of ``request``; its stripes return to the free lists. Returns tokens freed."""
        keys = [k for k in self._where if k[0] == request]
        if not keys:
            raise ValueError(f"request {request} holds no tokens on this device")
        for key in keys:
            self.free_token(*key)
        for key in [k for k in self._open if k[0] == request]:
            del self._open[key]
        for key in [k for k in self._holes if k[0] == request]:
            del self._holes[key]
        return len(keys)

    def has_room(self, request: int) -> bool:
        """Whether ``place(request, …)`` would find a slot."""
        return any(self._holes.get((request, g)) or self._free[g] or
                   self._open.get((request, g), (None, self.shape.banks))[1] < self.shape.banks
                   for g in range(self.shape.groups))

    def tokens_of(self, request: int) -> list[int]:
        return sorted(t for r, t in self._where if r == request)

    def bank_tokens(self, request: int) -> list[list[int]]:
        """``request``'s tokens per bank (all channels' bank groups, then banks), in address order."""
        slots = [[] for _ in range(self.shape.groups * self.shape.banks)]
        for (r, token), (group, stripe, bank) in self._where.items():
            if r == request:
                slots[group * self.shape.banks + bank].append((stripe, token))
        return [[token for _, token in sorted(bank)] for bank in slots]

    # -- activations and balance --------------------------------------------------

    def record_step(self, activated) -> None:
        """Record one step's activated tokens: an iterable of (request, token)."""
        counts = np.zeros(self.shape.groups, np.int64)
        for key in activated:
            if key not in self._where:
                raise ValueError(f"activated request {key[0]} token {key[1]} is not placed on this device")
            counts[self._where[key][0]] += 1
        if len(self._history) == self.window:
            self._recent -= self._history[0]
        self._history.append(counts)
        self._recent += counts

    def balance(self) -> float:
        """Load balance of the last step: max/mean activations per bank group (1.0 is perfect)."""
        if not self._history or self._history[-1].sum() == 0:
            return 1.0
        last = self._history[-1]
        return float(last.max() / last.mean())
