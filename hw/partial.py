"""The partial (m, l, O) that PUs emit and reduction units merge, as one stream payload, and the shared
constructor of the units that take partials on W lanes."""

from __future__ import annotations

from amaranth.lib import data, wiring

from golden.formats import FloatFormat

__all__ = ["partial_layout", "identity_bits", "check_vector_shape", "VectorUnit"]


def partial_layout(acc: FloatFormat, head_dim: int) -> data.StructLayout:
    """m, l and O[head_dim], each an ``acc`` bit pattern."""
    return data.StructLayout({"m": acc.width, "l": acc.width, "o": data.ArrayLayout(acc.width, head_dim)})


def identity_bits(acc: FloatFormat) -> int:
    """m of the identity partial, -inf (its l and O are +0)."""
    return acc.sign_mask | acc.inf


def check_vector_shape(lanes: int, head_dim: int) -> None:
    """W must be a power of two that divides head_dim."""
    if lanes < 1 or lanes & (lanes - 1):
        raise ValueError(f"lanes must be a power of two, not {lanes!r}")
    if head_dim < lanes or head_dim % lanes:
        raise ValueError(f"head_dim {head_dim} must be a positive multiple of lanes {lanes}")


class VectorUnit(wiring.Component):
    """The shared constructor of ``hw.ru.RU`` and ``hw.normalize.Normalize``, units of (fmt, acc, lanes,
    head_dim) that take partials: ``check_vector_shape`` runs before the object exists (a rejected unit is
    never an unused elaboratable); the unit keeps ``_fmt``, ``_acc``, W as ``_w`` and C = head_dim / W as
    ``_c``, and ``members(partial)`` gives its signature's members from the partials' layout."""

    def __new__(cls, fmt: FloatFormat, acc: FloatFormat, lanes: int, head_dim: int):
        check_vector_shape(lanes, head_dim)
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, fmt: FloatFormat, acc: FloatFormat, lanes: int, head_dim: int, members):
        self._fmt, self._acc, self._w, self._c = fmt, acc, lanes, head_dim // lanes
        super().__init__(members(partial_layout(acc, head_dim)))
