"""Float64 reference decode attention with grouped-query attention.

Shapes: ``q`` is [q_heads, head_dim] (one decode step), ``k`` and ``v`` are
[tokens, kv_heads, head_dim]. Query head ``h`` reads kv head ``h // group``,
``group = q_heads // kv_heads`` (consecutive query heads share a kv head, as in
LLaMA and Qwen). The softmax uses natural exp and the scale 1/sqrt(head_dim).
Functions are pure: inputs are never changed. Arguments are checked (O(1), on dtypes and shapes): q, k and v
must be float arrays (integers in this package are bit patterns) of consistent shapes, or a TypeError or
ValueError names the argument.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_float", "check_shapes", "expand_kv", "decode_attention"]


def _is_float(dtype: np.dtype) -> bool:
    """A real floating-point dtype: NumPy's own, or an ml_dtypes one (bfloat16, float8_*)."""
    return dtype.kind == "f" or (dtype.kind == "V" and dtype.type.__module__.startswith("ml_dtypes")
                                 and "float" in dtype.name)


def check_float(name: str, x) -> np.ndarray:
    """``x`` as an array of real floats, or TypeError naming ``name``, its dtype and what is expected.

    Integers are refused: in this package an integer array holds bit patterns, which a float function would
    read as (huge) values. Decode bits with ``FloatFormat.to_float`` first.
    """
    x = np.asarray(x)
    if not _is_float(x.dtype):
        hint = (" (integers here are bit patterns: decode them with fmt.to_float first)"
                if x.dtype.kind in "iu" else "")
        raise TypeError(f"{name}: dtype {x.dtype}, expected a float array{hint}")
    return x


def check_shapes(q, k, v) -> int:
    """Validate decode-attention shapes; return the GQA group size."""
    q, k, v = np.asarray(q), np.asarray(k), np.asarray(v)
    if q.ndim != 2:
        raise ValueError(f"q must be [q_heads, head_dim], got shape {q.shape}")
    if k.ndim != 3 or k.shape != v.shape:
        raise ValueError(f"k and v must both be [tokens, kv_heads, head_dim], got {k.shape} and {v.shape}")
    if k.shape[2] != q.shape[1]:
        raise ValueError(f"head_dim of q ({q.shape[1]}, shape {q.shape}) and k ({k.shape[2]}, shape {k.shape}) "
                         f"differ")
    q_heads, kv_heads = q.shape[0], k.shape[1]
    if kv_heads == 0 or q_heads % kv_heads:
        raise ValueError(f"q_heads ({q_heads}) must be a multiple of kv_heads ({kv_heads})")
    return q_heads // kv_heads


def expand_kv(x, group: int) -> np.ndarray:
    """[tokens, kv_heads, d] -> [q_heads, tokens, d]: each kv head repeated ``group`` times."""
    return np.repeat(np.moveaxis(np.asarray(x), 1, 0), group, axis=0)


def decode_attention(q, k, v, scale: float | None = None) -> np.ndarray:
    """softmax(q kᵀ · scale) v in float64.

    Parameters
    ----------
    q : array  # [q_heads, head_dim]
    k, v : array  # [tokens, kv_heads, head_dim]
    scale : float, optional
        Defaults to 1/sqrt(head_dim).

    Returns
    -------
    array  # [q_heads, head_dim], float64
    """
    q, k, v = check_float("q", q), check_float("k", k), check_float("v", v)
    group = check_shapes(q, k, v)
    if k.shape[0] == 0:
        raise ValueError("decode attention over 0 tokens is undefined (tokens = 0)")
    q = np.asarray(q, dtype=np.float64)
    scale = 1.0 / np.sqrt(q.shape[1]) if scale is None else scale
    keys = expand_kv(np.asarray(k, dtype=np.float64), group)      # [q_heads, tokens, d]
    values = expand_kv(np.asarray(v, dtype=np.float64), group)    # [q_heads, tokens, d]
    scores = np.einsum("hd,htd->ht", q, keys) * scale              # [q_heads, tokens]
    scores -= scores.max(axis=1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("ht,htd->hd", weights, values)
