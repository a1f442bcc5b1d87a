"""The host's side of the device command interface (``hw.device``): encode a request's KV and query.

A request owns one aligned region [base, base + span) in every bank of a
device; bank b holds its tokens in the PU's column order
(``hw.kvlayout.kv_columns``) from ``base``. The span is the columns of the
fullest bank.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data

from golden.formats import FP16, FloatFormat
from hw.device import Op
from hw.kvlayout import kv_columns, lanes_word

__all__ = ["region_span", "device_commands", "command_fields", "CommandPacker"]


def command_fields(layout, cmd: dict) -> dict:
    """``cmd`` with every field of the top's command ``layout`` (missing ones 0, ``q`` and ``counts`` padded)."""
    fields = dict(layout)
    unknown = sorted(set(cmd) - set(fields))
    if unknown:
        raise ValueError(f"command field {unknown[0]!r} is not in the command layout ({', '.join(fields)})")
    out = {name: 0 for name in fields if name not in ("q", "counts")}
    out.update({k: (int(v) if k not in ("q", "counts") else v) for k, v in cmd.items()})
    out["q"] = list(out.get("q", [])) + [0] * (fields["q"].shape.length - len(out.get("q", [])))
    counts = list(out.get("counts", []))
    if len(counts) > fields["counts"].shape.length:
        raise ValueError(f"counts: {len(counts)} banks for a top with {fields['counts'].shape.length}")
    out["counts"] = counts + [0] * (fields["counts"].shape.length - len(counts))
    return out


class CommandPacker:
    """Packs commands into the word a top's ``cmd.payload`` carries, from the offsets of ``layout``'s fields:
    the bits of ``layout.const``, without an Amaranth constant per command (about a millisecond each, and a
    demo job has 44,000 commands). A value that does not fit its field is refused, where ``const`` would
    truncate it."""

    def __init__(self, layout: data.StructLayout):
        self.layout = layout
        self._fields = []                    # (name, offset, element shape, elements or None for a scalar)
        for name, field in layout:
            if isinstance(field.shape, data.ArrayLayout):
                self._fields.append((name, field.offset, Shape.cast(field.shape.elem_shape), field.shape.length))
            else:
                self._fields.append((name, field.offset, Shape.cast(field.shape), None))

    def __call__(self, cmd: dict) -> int:
        fields = command_fields(self.layout, cmd)
        word = 0
        for name, offset, shape, length in self._fields:
            values = [fields[name]] if length is None else fields[name]
            for i, value in enumerate(values):
                value = int(value)
                lo, hi = (-(1 << shape.width - 1), 1 << shape.width - 1) if shape.signed else (0, 1 << shape.width)
                if not lo <= value < hi:
                    where = name if length is None else f"{name}[{i}]"
                    raise ValueError(f"command field {where}: {value} does not fit {shape}")
                word |= (value & ((1 << shape.width) - 1)) << (offset + i * shape.width)
        return word



def region_span(counts: Sequence[int], head_dim: int, lanes: int) -> int:
    """Columns a request needs in every bank: 2·C per token of the fullest bank."""
    return 2 * (head_dim // lanes) * max(counts, default=0)


def device_commands(q, k, v, partitions: Sequence[np.ndarray], banks: int, lanes: int, block: int,
                    req: int = 0, base: int = 0, limit: int | None = None,
                    previous: Sequence[np.ndarray] | None = None, fmt: FloatFormat = FP16) -> list[dict]:
    """SET_REGION, WRITE_KV for every column, LOAD_Q per head, then RUN, for one device.

    q : [G, d] pre-scaled query bits; k, v : [tokens, d] bits of one kv head;
    partitions : token indices per bank (bank-group major, ``banks`` per group), in bank order;
    previous : what the banks held at the last step (same k, v); only the columns that changed are
    written (a token appended, or the tail re-laid out after a migration);
    fmt : the format of k and v, whose width is a column lane's.
    """
    q = np.asarray(q)
    group, head_dim = q.shape
    counts = [len(p) for p in partitions]
    limit = base + region_span(counts, head_dim, lanes) if limit is None else limit
    cmds = [{"op": Op.SET_REGION, "req": req, "addr": base, "limit": limit}]
    for b, idx in enumerate(partitions):
        idx = np.asarray(idx, np.int64)
        held = [] if previous is None else kv_columns(k[np.asarray(previous[b], np.int64)],
                                                      v[np.asarray(previous[b], np.int64)], lanes, block)
        for i, col in enumerate(kv_columns(k[idx], v[idx], lanes, block)):
            if i < len(held) and np.array_equal(held[i], col):
                continue
            cmds.append({"op": Op.WRITE_KV, "req": req, "bg": b // banks, "bank": b % banks, "addr": base + i,
                         "data": lanes_word(col, fmt)})
    cmds += [{"op": Op.LOAD_Q, "addr": g, "q": [int(x) for x in q[g]]} for g in range(group)]
    cmds.append({"op": Op.RUN, "req": req, "group": group, "counts": counts})
    return cmds
