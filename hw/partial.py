"""The partial (m, l, O) that PUs emit and reduction units merge, as one stream payload."""

from __future__ import annotations

from amaranth.lib import data

from golden.formats import FloatFormat

__all__ = ["partial_layout", "identity_bits", "check_vector_shape"]


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
