"""Migration between tiers through PAM's interface, counted and timed.

The interface has three parts:

1. a sender-side **command reorder unit**, which reads the moving tokens in
   source-address order, so each source row opens once;
2. a dual-port **re-layout buffer**, which holds up to ``relayout_buffer_bytes``
   of tokens and releases them in destination order;
3. a receiver-side **address generation unit**, which writes each run of
   consecutive destination stripes as one contiguous region.

:func:`plan_migration` counts source row activations (with and without
reordering), buffer batches, destination regions and bytes per link. It
estimates the time as bytes / bandwidth + regions × setup, with the link
figures from ``host/configs/migration.toml``. It gives the CPU re-layout
baseline next to it: the same bytes over the same link, but one transfer
per token (no reorder unit and no re-layout buffer, so every token is its
own DMA descriptor or NVMe command), plus the CPU's gather/scatter work per
token. :func:`apply_migration` moves
payloads in the planned order and checks them by checksum.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
from collections.abc import Mapping, Sequence
from importlib import resources

from hw.tierconfig import MemoryTier

from .mapping import Address

__all__ = ["LinkConfig", "load_migration_config", "Transfer", "LinkPlan", "plan_migration", "apply_migration"]


@dataclasses.dataclass(frozen=True)
class LinkConfig:
    bandwidth_gb_s: float
    region_setup_ns: float


def load_migration_config() -> dict:
    """``host/configs/migration.toml`` as a dict (links, migration buffer, CPU baseline)."""
    return tomllib.loads(resources.files("host").joinpath("configs", "migration.toml").read_text())


def _link_name(src: int, dst: int) -> str:
    a, b = sorted((MemoryTier(src), MemoryTier(dst)))
    return f"{a.key}_{b.key}"


@dataclasses.dataclass(frozen=True)
class Transfer:
    """One token moving from ``src`` to ``dst`` (addresses from the tiers' mappers)."""

    token: int
    src: Address
    dst: Address


@dataclasses.dataclass(frozen=True)
class LinkPlan:
    link: str
    tokens: int
    bytes: int
    source_rows_in_order: int      # row activations at the sender, tokens in the order given
    source_rows_reordered: int     # ... after the reorder unit
    batches: int                   # re-layout buffer fills
    destination_regions: int       # contiguous regions the receiver writes
    time_s: float                  # through the interface
    cpu_time_s: float              # CPU re-layout baseline: a transfer per token plus CPU work
    order: tuple                   # token ids in the order the receiver writes them


def _row_key(a: Address):
    return (a.tier, a.device, a.channel, a.bank_group, a.bank, a.row)


def _stripe_key(a: Address):
    return (a.tier, a.device, a.channel, a.bank_group, a.row, a.column)


def _opens(keys) -> int:
    return sum(1 for i, k in enumerate(keys) if i == 0 or k != keys[i - 1])


def plan_migration(transfers: Sequence[Transfer], token_bytes: int, columns_per_token: Mapping[int, int],
                   config: dict | None = None) -> list[LinkPlan]:
    """Plan the transfers of one step, per link.

    ``columns_per_token`` maps each destination tier to its stripe width in columns (tiers have
    different column widths, so a token spans a different number of columns in each).
    """
    if token_bytes < 1:
        raise ValueError(f"token_bytes must be >= 1, not {token_bytes}")
    config = load_migration_config() if config is None else config
    buffer_tokens = max(1, int(config["migration"]["relayout_buffer_bytes"]) // token_bytes)
    cpu = config["cpu_relayout"]
    by_link: dict[str, list[Transfer]] = {}
    for tr in transfers:
        if tr.src.tier == tr.dst.tier:
            raise ValueError(f"token {tr.token}: source and destination are both in tier {tr.src.tier}")
        if tr.dst.tier not in columns_per_token:
            raise ValueError(f"token {tr.token}: no columns_per_token for destination tier {tr.dst.tier}")
        by_link.setdefault(_link_name(tr.src.tier, tr.dst.tier), []).append(tr)
    plans = []
    for name, items in sorted(by_link.items()):
        link = LinkConfig(**config["links"][name])
        reordered = sorted(items, key=lambda tr: (_row_key(tr.src), tr.src.column))
        order, regions = [], 0
        for start in range(0, len(reordered), buffer_tokens):
            batch = sorted(reordered[start:start + buffer_tokens], key=lambda tr: (_stripe_key(tr.dst), tr.dst.bank))
            stripes = [_stripe_key(tr.dst) for tr in batch]
            distinct = [s for i, s in enumerate(stripes) if i == 0 or s != stripes[i - 1]]
            # A region is a run of stripes at consecutive column ranges of one row (s[0] is the tier).
            regions += sum(1 for i, s in enumerate(distinct) if i == 0 or not (
                s[:5] == distinct[i - 1][:5] and s[5] == distinct[i - 1][5] + columns_per_token[s[0]]))
            order.extend(tr.token for tr in batch)
        total = len(items) * token_bytes
        plans.append(LinkPlan(
            link=name, tokens=len(items), bytes=total,
            source_rows_in_order=_opens([_row_key(tr.src) for tr in items]),
            source_rows_reordered=_opens([_row_key(tr.src) for tr in reordered]),
            batches=-(-len(items) // buffer_tokens), destination_regions=regions,
            time_s=total / (link.bandwidth_gb_s * 1e9) + regions * link.region_setup_ns * 1e-9,
            cpu_time_s=total / (link.bandwidth_gb_s * 1e9) + len(items) * (
                link.region_setup_ns * 1e-9 + cpu["per_token_ns"] * 1e-9 + token_bytes / (cpu["bandwidth_gb_s"] * 1e9)),
            order=tuple(order)))
    return plans


def _digest(payload: bytes) -> str:
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


def apply_migration(store: dict, transfers: Sequence[Transfer], plans: Sequence[LinkPlan]) -> int:
    """Move payloads ``store[address]`` to their destinations in the planned order; verify checksums.

    Like the re-layout buffer, every source of the step is read before any
    destination is written, so a swap may reuse a slot its partner vacates.
    Returns the number of tokens moved. Raises ValueError if a payload is
    missing, a destination is occupied, or a checksum differs after the move.
    """
    by_token = {tr.token: tr for tr in transfers}
    in_flight = {}
    for plan in plans:
        for token in plan.order:
            tr = by_token[token]
            if tr.src not in store:
                raise ValueError(f"token {token}: no payload at its source {tr.src}")
            payload = store.pop(tr.src)
            in_flight[token] = (payload, _digest(payload))
    for plan in plans:
        for token in plan.order:
            tr = by_token[token]
            if tr.dst in store:
                raise ValueError(f"token {token}: destination {tr.dst} is occupied")
            payload, digest = in_flight.pop(token)
            store[tr.dst] = bytes(payload)
            if _digest(store[tr.dst]) != digest:
                raise ValueError(f"token {token}: payload changed in transit")
    return sum(p.tokens for p in plans)
