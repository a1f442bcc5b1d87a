"""PAMattention in float64: per-partition partials merged through a reduction tree.

The algebra (brief, section 2). A partition (one bank's tokens) emits, per
query head, the partial

    m = max_t s_t,   l = Σ_t exp(s_t - m),   O = Σ_t exp(s_t - m) · v_t

with s_t = q·k_t · scale. Partials merge by

    m* = max m_i,   l* = Σ exp(m_i - m*) · l_i,   O* = Σ exp(m_i - m*) · O_i

and the output is O*/l*, divided once at the top. ``l`` is linear at every
level. An empty partition emits the identity (m = -inf, l = 0, O = 0), which
any merge leaves unchanged.

A reduction tree is a nested sequence whose leaves are partition indices,
e.g. ``(0, (1, 2), (3, (4, 5)))``: every partition appears exactly once. Each
inner node is one reduction unit merging its children in order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from .reference import check_float, check_shapes, expand_kv

__all__ = [
    "Partial", "Tree", "check_partitions", "check_tree", "flat_tree", "reduce_tree",
    "partial_f64", "merge_f64", "identity_f64", "pam_attention_f64",
]

Tree = int | Sequence["Tree"]


@dataclasses.dataclass(frozen=True)
class Partial:
    """A partial result for every query head (float64 values or bit patterns).

    Attributes
    ----------
    m : array  # [q_heads]      running max of the scores
    l : array  # [q_heads]      Σ exp(s - m), linear
    o : array  # [q_heads, head_dim]  Σ exp(s - m) · v, unnormalised
    """

    m: np.ndarray
    l: np.ndarray
    o: np.ndarray


def check_partitions(partitions) -> list[np.ndarray]:
    """Each partition's token indices as a 1-D integer array; TypeError or ValueError naming the partition."""
    if isinstance(partitions, (str, bytes)) or not hasattr(partitions, "__len__"):
        raise TypeError(f"partitions: {type(partitions).__name__}, expected a sequence of token-index arrays "
                        f"(one per bank)")
    out = []
    for i, idx in enumerate(partitions):
        idx = np.asarray(idx)
        if idx.ndim != 1:
            raise ValueError(f"partitions[{i}]: shape {idx.shape}, expected a 1-D array of token indices")
        if idx.size and idx.dtype.kind not in "iu":
            raise TypeError(f"partitions[{i}]: dtype {idx.dtype}, expected integer token indices")
        out.append(idx.astype(np.int64, copy=False))
    return out


def check_tree(tree: Tree, partitions: int) -> None:
    """Raise ValueError unless ``tree`` names each of ``partitions`` leaves exactly once."""
    seen: list[int] = []

    def walk(node, depth):
        if isinstance(node, (int, np.integer)):
            seen.append(int(node))
        elif isinstance(node, Sequence) and not isinstance(node, str) and len(node) > 0:
            if depth > 512:
                raise ValueError("reduction tree is deeper than 512 levels")
            for child in node:
                walk(child, depth + 1)
        else:
            raise ValueError(f"reduction tree node must be a leaf index or a non-empty sequence, not {node!r}")

    walk(tree, 0)
    if sorted(seen) != list(range(partitions)):
        missing = sorted(set(range(partitions)) - set(seen))
        extra = sorted(i for i in set(seen) if seen.count(i) > 1 or not 0 <= i < partitions)
        raise ValueError(f"reduction tree must use each of {partitions} partitions once; "
                         f"missing {missing}, repeated or out of range {extra}")


def flat_tree(partitions: int) -> tuple[int, ...]:
    """One reduction unit merging every partition in index order."""
    if partitions < 1:
        raise ValueError(f"need at least one partition, not {partitions}")
    return tuple(range(partitions))


def reduce_tree(tree: Tree, leaves: Sequence[Partial],
                merge: Callable[[Sequence[Partial]], Partial]) -> Partial:
    """Evaluate ``tree`` bottom-up: leaves index ``leaves``, inner nodes call ``merge``."""
    if isinstance(tree, (int, np.integer)):
        return leaves[int(tree)]
    return merge([reduce_tree(child, leaves, merge) for child in tree])


def identity_f64(q_heads: int, head_dim: int) -> Partial:
    return Partial(np.full(q_heads, -np.inf), np.zeros(q_heads), np.zeros((q_heads, head_dim)))


def partial_f64(q, k, v, scale: float | None = None) -> Partial:
    """The partial of one partition.

    q : array  # [q_heads, head_dim]
    k, v : array  # [tokens, kv_heads, head_dim]; tokens may be 0 (identity)
    """
    q, k, v = check_float("q", q), check_float("k", k), check_float("v", v)
    group = check_shapes(q, k, v)
    q = np.asarray(q, dtype=np.float64)
    if k.shape[0] == 0:
        return identity_f64(*q.shape)
    scale = 1.0 / np.sqrt(q.shape[1]) if scale is None else scale
    keys = expand_kv(np.asarray(k, dtype=np.float64), group)       # [q_heads, tokens, d]
    values = expand_kv(np.asarray(v, dtype=np.float64), group)     # [q_heads, tokens, d]
    scores = np.einsum("hd,htd->ht", q, keys) * scale               # [q_heads, tokens]
    m = scores.max(axis=1)
    p = np.exp(scores - m[:, None])
    return Partial(m, p.sum(axis=1), np.einsum("ht,htd->hd", p, values))


def merge_f64(parts: Sequence[Partial]) -> Partial:
    """Merge partials of the same heads (any number >= 1, identities included)."""
    m = np.stack([p.m for p in parts])                # [parts, q_heads]
    m_star = m.max(axis=0)
    finite = np.isfinite(m_star)
    # exp(m_i - m*) with the identity rule: -inf - (-inf) must give 0, not NaN.
    safe = np.where(finite, m_star, 0.0)
    w = np.where(np.isfinite(m), np.exp(m - safe), 0.0)             # [parts, q_heads]
    l = (w * np.stack([p.l for p in parts])).sum(axis=0)
    o = (w[:, :, None] * np.stack([p.o for p in parts])).sum(axis=0)
    return Partial(m_star, l, o)


def pam_attention_f64(q, k, v, partitions: Sequence[np.ndarray], tree: Tree | None = None,
                      scale: float | None = None) -> np.ndarray:
    """Decode attention computed PAM's way, in float64.

    Parameters
    ----------
    q : array  # [q_heads, head_dim]
    k, v : array  # [tokens, kv_heads, head_dim]
    partitions : sequence of int arrays
        Token indices held by each partition (bank); may be empty.
    tree : Tree, optional
        Reduction tree over partition indices; defaults to :func:`flat_tree`.

    Returns
    -------
    array  # [q_heads, head_dim]
    """
    q, k, v = check_float("q", q), check_float("k", k), check_float("v", v)
    check_shapes(q, k, v)
    partitions = check_partitions(partitions)
    tree = flat_tree(len(partitions)) if tree is None else tree
    check_tree(tree, len(partitions))
    leaves = [partial_f64(q, k[idx], v[idx], scale) for idx in partitions]
    top = reduce_tree(tree, leaves, merge_f64)
    if not np.all(top.l > 0):
        raise ValueError("the partitions hold no tokens: attention over 0 tokens is undefined")
    return top.o / top.l[:, None]
