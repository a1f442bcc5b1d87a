"""PAMattention in the hardware's arithmetic and operation order, bit for bit.

This is the specification that the PU and RU RTL must match on every bit.
``docs/numerics.md`` states the same order in prose. Values are bit patterns:
``fmt`` (FP16 or BF16) for q, K, V, the exp2/reciprocal units and the output;
``acc`` (FP32 by default, or ``fmt``) for scores, m, l and O.

Host side (once per decode step)
    q' = round_fmt(q · log2(e) / sqrt(head_dim)), computed in float64. The exp
    unit is base 2, so with this pre-scale 2**(q'·k) = exp(q·k / sqrt(d)).

PU, per (bank, query head), tokens in blocks of B in bank order
    1. score s_t: for each chunk c of W lanes, the W products q'_i·k_i
       rounded to acc, summed by a pairwise adder tree (lanes (0,1), (2,3), …,
       then pairs of sums), then s ← s + chunk_sum starting from s = +0.
    2. m_new = max(m_run, max of the block's s_t) (max is exact: any order).
    3. α = exp2(round_fmt(m_run - m_new)).
    4. p_t = exp2(round_fmt(s_t - m_new)), in fmt.
    5. l ← l·α, then l ← l + p_t token by token (acc).
    6. O ← O·α lane-wise, then O ← O + round_acc(p_t·v_t) token by token.
    A bank with no tokens emits the identity (m = -inf, l = +0, O = +0).

RU, per query head: a running partial starts at the identity and merges each
input in arrival order:
    m* = max(m_r, m_i); if m* = -inf the result is the identity; else
    s_r = exp2(round_fmt(m_r - m*)), s_i = exp2(round_fmt(m_i - m*)),
    l* = l_r·s_r + l_i·s_i,  O* = O_r·s_r + O_i·s_i  (each product rounded to acc).

Top: r = reciprocal(round_fmt(l)); out = round_fmt(O · r).

The public functions check their arguments (O(1), on dtypes and shapes): bit patterns must be integer
arrays wide enough for the format (uint16 or any wider integer for FP16/BF16, as traces store them; the
model computes in int64), and shapes must agree; a TypeError or ValueError names the argument.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from .elementary import exp2, reciprocal
from .formats import FP16, FP32, FloatFormat
from .fpops import convert, fadd, fmax, fmul, fneg
from .pamattention import Partial, Tree, check_partitions, check_tree, flat_tree, reduce_tree
from .reference import check_shapes

__all__ = [
    "HwConfig", "block_tokens_for", "prescale_query", "identity_hw", "pu_partials",
    "bank_partial", "ru_merge", "finalize", "pam_attention_hw",
]

LOG2E = 1.4426950408889634


@dataclasses.dataclass(frozen=True)
class HwConfig:
    """Arithmetic parameters of the PU/RU datapath.

    Parameters
    ----------
    fmt : FloatFormat
        Storage and compute format (FP16 or BF16).
    acc : FloatFormat
        Accumulator format of scores, m, l and O; ``fmt`` itself or a wider one
        that holds every ``fmt`` value exactly (FP32).
    lanes : int
        Vector width W (16 for HBM/SSD PUs, 4 for DDR PUs); a power of two.
    block_tokens : int
        Tokens per block B, set by the PU buffer (:func:`block_tokens_for`).
    """

    fmt: FloatFormat = FP16
    acc: FloatFormat = FP32
    lanes: int = 16
    block_tokens: int = 128

    def __post_init__(self):
        if not isinstance(self.lanes, int) or self.lanes < 1 or self.lanes & (self.lanes - 1):
            raise ValueError(f"lanes must be a power of two >= 1, not {self.lanes!r}")
        if not isinstance(self.block_tokens, int) or self.block_tokens < 1:
            raise ValueError(f"block_tokens must be a positive integer, not {self.block_tokens!r}")
        if self.acc.exp_bits < self.fmt.exp_bits or self.acc.man_bits < self.fmt.man_bits:
            raise ValueError(f"accumulator {self.acc} cannot hold every {self.fmt} value exactly")


def _check_bits(name: str, x, fmt: FloatFormat) -> np.ndarray:
    """``x`` as an array, or TypeError unless it holds integers wide enough for ``fmt``'s bit patterns."""
    x = np.asarray(x)
    bits = x.dtype.itemsize * 8
    if not ((x.dtype.kind == "u" and bits >= fmt.width) or (x.dtype.kind == "i" and bits > fmt.width)):
        hint = f"; encode floats with {fmt.name.upper()}.from_float" if x.dtype.kind in "fcV" else ""
        raise TypeError(f"{name}: dtype {x.dtype}, expected {fmt.storage_dtype} bit patterns of {fmt} "
                        f"(or a wider integer dtype){hint}")
    return x


def _check_rank(name: str, x: np.ndarray, axes: str) -> None:
    rank = axes.count(",") + 1
    if x.ndim != rank:
        raise ValueError(f"{name}: shape {x.shape}, expected {axes}")


def _check_cfg(cfg) -> None:
    if not isinstance(cfg, HwConfig):
        raise TypeError(f"cfg: {type(cfg).__name__}, expected a HwConfig")


def _check_partial(name: str, part, cfg: HwConfig) -> None:
    """A Partial of acc bit patterns: m and l of one shape, o of that shape plus head_dim."""
    if not isinstance(part, Partial):
        raise TypeError(f"{name}: {type(part).__name__}, expected a Partial")
    for field in ("m", "l", "o"):
        _check_bits(f"{name}.{field}", getattr(part, field), cfg.acc)
    m, l, o = (np.shape(x) for x in (part.m, part.l, part.o))
    if l != m or o[:-1] != m or len(o) != len(m) + 1:
        raise ValueError(f"{name}: m {m}, l {l} and o {o} disagree; expected m and l [heads], o [heads, head_dim]")


def block_tokens_for(buffer_bytes: int, acc: FloatFormat, group: int) -> int:
    """Tokens per block when the PU buffer holds one block's scores (in ``acc``) for ``group`` heads."""
    if buffer_bytes < 1 or group < 1:
        raise ValueError(f"buffer_bytes ({buffer_bytes}) and group ({group}) must be positive")
    tokens = buffer_bytes // (acc.width // 8 * group)
    if tokens < 1:
        raise ValueError(f"a {buffer_bytes}-byte buffer cannot hold one {acc} score for {group} heads")
    return tokens


def prescale_query(q, fmt: FloatFormat) -> np.ndarray:
    """Host side: q' = round_fmt(q · log2(e) / sqrt(head_dim)).

    q : int array  # [..., head_dim], bit patterns of ``fmt``
    """
    if not isinstance(fmt, FloatFormat):
        raise TypeError(f"fmt: {type(fmt).__name__}, expected a FloatFormat (FP16 or BF16)")
    q = _check_bits("q", q, fmt)
    if q.ndim < 1 or q.shape[-1] < 1:
        raise ValueError(f"q: shape {q.shape}, expected [..., head_dim] with head_dim >= 1")
    return fmt.from_float(fmt.to_float(q) * (LOG2E / np.sqrt(q.shape[-1]))).astype(np.int64)


def identity_hw(shape, head_dim: int, cfg: HwConfig) -> Partial:
    """The identity partial: m = -inf, l = +0, O = +0, for heads of ``shape``."""
    neg_inf = cfg.acc.sign_mask | cfg.acc.inf
    return Partial(np.full(shape, neg_inf, np.int64), np.zeros(shape, np.int64),
                   np.zeros((*shape, head_dim), np.int64))


def _adder_tree(x: np.ndarray, acc: FloatFormat) -> np.ndarray:
    """Pairwise sum over the last axis: (0+1), (2+3), … then pairs of sums."""
    while x.shape[-1] > 1:
        x = fadd(x[..., 0::2], x[..., 1::2], acc)
    return x[..., 0]


def _scores(q, k, cfg: HwConfig) -> np.ndarray:
    """s = q'·k per (batch, head, token): chunks of W lanes, adder tree, chunk accumulation.

    q : [batch, G, d]; k : [batch, tokens, d] -> [batch, G, tokens] (acc bits)
    """
    fmt, acc, w = cfg.fmt, cfg.acc, cfg.lanes
    s = np.zeros((q.shape[0], q.shape[1], k.shape[1]), np.int64)
    for c in range(q.shape[-1] // w):
        lanes = slice(c * w, (c + 1) * w)
        products = fmul(q[:, :, None, lanes], k[:, None, :, lanes], fmt, out=acc)
        s = fadd(s, _adder_tree(products, acc), acc)
    return s


def _exp2_of_difference(a, b, cfg: HwConfig) -> np.ndarray:
    """exp2(round_fmt(a - b)) for acc operands, returned in acc (exact widening)."""
    fmt, acc = cfg.fmt, cfg.acc
    return convert(exp2(convert(fadd(a, fneg(b, acc), acc), acc, fmt), fmt), fmt, acc)


def _checked_qkv(q, k, v, cfg: HwConfig, batch: bool):
    """q, k, v as bit-pattern arrays of ``cfg.fmt`` with agreeing shapes: q [G, d], k and v [n, d], each with a
    leading [batch] axis when ``batch``; a wrong dtype or shape raises, naming the argument."""
    _check_cfg(cfg)
    q, k, v = (_check_bits(name, x, cfg.fmt) for name, x in (("q", q), ("k", k), ("v", v)))
    lead = "batch, " if batch else ""
    _check_rank("q", q, f"[{lead}G, head_dim]")
    _check_rank("k", k, f"[{lead}tokens, head_dim]")
    if v.shape != k.shape:
        raise ValueError(f"v: shape {v.shape}, expected k's shape {k.shape}")
    if k.shape[-1] != q.shape[-1] or (batch and k.shape[0] != q.shape[0]):
        raise ValueError(f"k: shape {k.shape}, expected [{lead}tokens, {q.shape[-1]}] with q's "
                         f"{'batch and ' if batch else ''}head_dim (q shape {q.shape})")
    return q, k, v


def pu_partials(q, k, v, counts, cfg: HwConfig) -> Partial:
    """The PU: partials of a batch of banks, each over its own tokens.

    Parameters
    ----------
    q : int array  # [batch, G, head_dim], pre-scaled query bits (fmt)
    k, v : int array  # [batch, tokens, head_dim], bits (fmt), padded
    counts : int array  # [batch], valid tokens per bank (the rest is padding)

    Returns
    -------
    Partial with m, l [batch, G] and o [batch, G, head_dim], acc bits.
    """
    q, k, v = _checked_qkv(q, k, v, cfg, batch=True)
    counts = np.asarray(counts)
    if counts.shape != (q.shape[0],) or (counts.size and counts.dtype.kind not in "iu"):
        raise ValueError(f"counts: dtype {counts.dtype}, shape {counts.shape}, expected integers of shape "
                         f"({q.shape[0]},)")
    q, k, v = (np.asarray(x, dtype=np.int64) for x in (q, k, v))
    counts = counts.astype(np.int64)
    batch, group, head_dim = q.shape
    if head_dim % cfg.lanes:
        raise ValueError(f"head_dim {head_dim} is not a multiple of lanes {cfg.lanes}")
    fmt, acc, blk = cfg.fmt, cfg.acc, cfg.block_tokens
    run = identity_hw((batch, group), head_dim, cfg)
    m, l, o = run.m, run.l, run.o
    for start in range(0, int(counts.max(initial=0)), blk):
        kb, vb = k[:, start:start + blk], v[:, start:start + blk]
        valid = (start + np.arange(kb.shape[1]))[None, :] < counts[:, None]   # [batch, Bt]
        s = _scores(q, kb, cfg)                                                 # [batch, G, Bt]
        m_new = m
        for j in range(kb.shape[1]):
            m_new = np.where(valid[:, None, j], fmax(m_new, s[:, :, j], acc), m_new)
        alpha = _exp2_of_difference(m, m_new, cfg)                               # [batch, G]
        p = exp2(convert(fadd(s, fneg(m_new, acc)[:, :, None], acc), acc, fmt), fmt)
        active = valid[:, None, 0]                                              # block not empty
        l = np.where(active, fmul(l, alpha, acc), l)
        o = np.where(active[:, :, None], fmul(o, alpha[:, :, None], acc), o)
        for j in range(kb.shape[1]):
            take = valid[:, None, j]
            l = np.where(take, fadd(l, convert(p[:, :, j], fmt, acc), acc), l)
            pv = fmul(p[:, :, j, None], vb[:, None, j, :], fmt, out=acc)
            o = np.where(take[:, :, None], fadd(o, pv, acc), o)
        m = np.where(active, m_new, m)
    return Partial(m, l, o)


def bank_partial(q, k, v, cfg: HwConfig) -> Partial:
    """One PU over its bank's tokens: q [G, d] pre-scaled, k, v [n, d] (n may be 0) -> Partial [G] / [G, d]."""
    q, k, v = _checked_qkv(q, k, v, cfg, batch=False)
    k, v = np.asarray(k, dtype=np.int64), np.asarray(v, dtype=np.int64)
    part = pu_partials(q[None], k[None], v[None], [len(k)], cfg)
    return Partial(part.m[0], part.l[0], part.o[0])


def _merge_pair(r: Partial, x: Partial, cfg: HwConfig) -> Partial:
    acc = cfg.acc
    m = fmax(r.m, x.m, acc)
    empty = m == (acc.sign_mask | acc.inf)
    s_r = _exp2_of_difference(r.m, m, cfg)
    s_x = _exp2_of_difference(x.m, m, cfg)
    l = fadd(fmul(r.l, s_r, acc), fmul(x.l, s_x, acc), acc)
    o = fadd(fmul(r.o, s_r[..., None], acc), fmul(x.o, s_x[..., None], acc), acc)
    ident = identity_hw(m.shape, r.o.shape[-1], cfg)
    return Partial(np.where(empty, ident.m, m), np.where(empty, ident.l, l),
                   np.where(empty[..., None], ident.o, o))


def ru_merge(parts: Sequence[Partial], cfg: HwConfig) -> Partial:
    """A reduction unit: fold the inputs, in order, into a running partial that starts at the identity."""
    _check_cfg(cfg)
    if isinstance(parts, Partial) or not hasattr(parts, "__len__") or len(parts) == 0:
        raise ValueError(f"parts: {type(parts).__name__}, expected a non-empty sequence of Partials")
    for i, part in enumerate(parts):
        _check_partial(f"parts[{i}]", part, cfg)
        if part.o.shape != parts[0].o.shape:
            raise ValueError(f"parts[{i}]: o shape {part.o.shape}, expected parts[0]'s {parts[0].o.shape}")
    run = identity_hw(parts[0].m.shape, parts[0].o.shape[-1], cfg)
    for part in parts:
        run = _merge_pair(run, part, cfg)
    return run


def finalize(top: Partial, cfg: HwConfig) -> np.ndarray:
    """Top of the tree: out = round_fmt(O · reciprocal(round_fmt(l))), [heads, d] fmt bits."""
    _check_cfg(cfg)
    _check_partial("top", top, cfg)
    fmt, acc = cfg.fmt, cfg.acc
    l_fmt = convert(top.l, acc, fmt)
    if np.any(top.l == 0):
        raise ValueError("the partitions hold no tokens: attention over 0 tokens is undefined")
    if np.any(fmt.is_inf(l_fmt)):
        raise OverflowError(f"softmax denominator l = {acc.to_float(top.l).max():g} exceeds the {fmt} "
                            f"range of the reciprocal unit (max {fmt.to_float(fmt.max_finite):g})")
    r = convert(reciprocal(l_fmt, fmt), fmt, acc)
    return fmul(top.o, r[..., None], acc, out=fmt)


def pam_attention_hw(q, k, v, partitions: Sequence[np.ndarray], tree: Tree | None = None,
                     cfg: HwConfig = HwConfig()) -> np.ndarray:
    """Decode attention in the hardware's arithmetic.

    Parameters
    ----------
    q : int array  # [q_heads, head_dim], bits of cfg.fmt, *not* pre-scaled
    k, v : int array  # [tokens, kv_heads, head_dim], bits of cfg.fmt
    partitions : sequence of int arrays
        Token indices of each bank, in the bank's storage order.
    tree : Tree, optional
        Reduction tree over partition indices; defaults to one RU over all.

    Returns
    -------
    int array  # [q_heads, head_dim], bits of cfg.fmt
    """
    _check_cfg(cfg)
    q, k, v = (_check_bits(name, x, cfg.fmt) for name, x in (("q", q), ("k", k), ("v", v)))
    group = check_shapes(q, k, v)
    partitions = check_partitions(partitions)
    tree = flat_tree(len(partitions)) if tree is None else tree
    check_tree(tree, len(partitions))
    q, k, v = (np.asarray(x, dtype=np.int64) for x in (q, k, v))
    q_heads, head_dim = q.shape
    kv_heads = k.shape[1]
    counts = np.array([len(idx) for idx in partitions], dtype=np.int64)
    n_max = int(counts.max(initial=0))
    n_part = len(partitions)
    k_pad = np.zeros((n_part, kv_heads, n_max, head_dim), np.int64)   # [P, kv_heads, n, d]
    v_pad = np.zeros_like(k_pad)
    for i, idx in enumerate(partitions):
        k_pad[i, :, :len(idx)] = np.moveaxis(k[np.asarray(idx, dtype=np.int64)], 1, 0)
        v_pad[i, :, :len(idx)] = np.moveaxis(v[np.asarray(idx, dtype=np.int64)], 1, 0)
    qs = prescale_query(q, cfg.fmt).reshape(kv_heads, group, head_dim)
    qs = np.broadcast_to(qs, (n_part, kv_heads, group, head_dim)).reshape(-1, group, head_dim)
    part = pu_partials(qs, k_pad.reshape(-1, n_max, head_dim), v_pad.reshape(-1, n_max, head_dim),
                       np.repeat(counts, kv_heads), cfg)
    m = part.m.reshape(n_part, q_heads)
    l = part.l.reshape(n_part, q_heads)
    o = part.o.reshape(n_part, q_heads, head_dim)
    leaves = [Partial(m[i], l[i], o[i]) for i in range(n_part)]
    top = reduce_tree(tree, leaves, lambda parts: ru_merge(parts, cfg))
    return finalize(top, cfg)
