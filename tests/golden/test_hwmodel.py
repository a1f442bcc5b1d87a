"""The hardware-order model: bit-exact against an independent scalar oracle, and within its stated bound."""

import math

import numpy as np
import pytest

from golden.accuracy import attention_bound, attention_error, attention_error_bound, rescale_limit
from golden.elementary import exp2, reciprocal
from golden.formats import BF16, FP16, FP32
from golden.hwmodel import HwConfig, block_tokens_for, finalize, pam_attention_hw
from golden.pamattention import Partial
from golden.placement import Placement, TierShape
from golden.reference import decode_attention
from golden.traces.format import generate_trace


class ScalarOracle:
    """PAMattention in the documented order, one scalar at a time, with NumPy's own IEEE types.

    Shares nothing with golden.fpops: sums and products are NumPy float32 (or
    the 16-bit dtype itself) scalar operations, which round once to nearest
    even. Only the exp2 and reciprocal units come from golden.elementary; they
    are checked exhaustively on their own.
    """

    def __init__(self, cfg):
        self.cfg = cfg
        self.f = cfg.fmt.numpy_dtype.type          # np.float16 or ml_dtypes.bfloat16
        self.a = np.float32 if cfg.acc == FP32 else self.f

    def ex2(self, x):
        bits = np.array([self.f(x)]).view(self.cfg.fmt.storage_dtype)
        return self.a(self.cfg.fmt.to_float(exp2(bits, self.cfg.fmt))[0])

    def partial(self, q, k, v):
        """q [d] (fmt floats, pre-scaled); k, v [n, d] -> (m, l, o)."""
        a, W, B = self.a, self.cfg.lanes, self.cfg.block_tokens
        m, l, o = a(-np.inf), a(0), np.zeros(len(q), dtype=a)
        for start in range(0, len(k), B):
            scores = []
            for kt in k[start:start + B]:
                s = a(0)
                for c in range(0, len(q), W):
                    terms = [a(q[i]) * a(kt[i]) for i in range(c, c + W)]
                    while len(terms) > 1:
                        terms = [terms[j] + terms[j + 1] for j in range(0, len(terms), 2)]
                    s = s + terms[0]
                scores.append(s)
            m_new = max([m] + scores)
            alpha = self.ex2(m - m_new)
            l, o = l * alpha, o * alpha
            for s, vt in zip(scores, v[start:start + B]):
                p = self.ex2(s - m_new)
                l = l + p
                o = o + np.array([p * a(x) for x in vt], dtype=a)
            m = m_new
        return m, l, o

    def merge(self, parts):
        a = self.a
        mr, lr, orr = a(-np.inf), a(0), np.zeros_like(parts[0][2])
        for mi, li, oi in parts:
            ms = max(mr, mi)
            if ms == -np.inf:
                mr, lr, orr = a(-np.inf), a(0), np.zeros_like(orr)
                continue
            sr, si = self.ex2(mr - ms), self.ex2(mi - ms)
            lr = lr * sr + li * si
            orr = orr * sr + oi * si
            mr = ms
        return mr, lr, orr

    def attention(self, q, k, v, partitions, tree):
        """q [q_heads, d], k/v [n, kv_heads, d] as fmt floats -> [q_heads, d] float64."""
        fmt = self.cfg.fmt
        group = q.shape[0] // k.shape[1]
        out = np.zeros(q.shape)
        for h in range(q.shape[0]):
            qs = np.array([self.f(x * (1.4426950408889634 / math.sqrt(q.shape[1]))) for x in q[h]])
            leaves = [self.partial(qs, k[idx, h // group], v[idx, h // group]) for idx in partitions]

            def walk(node):
                return leaves[node] if isinstance(node, int) else self.merge([walk(c) for c in node])
            m, l, o = walk(tree)
            r = fmt.to_float(reciprocal(fmt.from_float([float(l)]), fmt))[0]
            out[h] = fmt.to_float(fmt.from_float(o.astype(np.float64) * r))   # one rounding
        return out


@pytest.mark.parametrize("fmt", [FP16, BF16], ids=str)
@pytest.mark.parametrize("acc", ["fp32", "native"])
@pytest.mark.parametrize("dist", ["gaussian", "heavy"])
def test_bit_exact_against_scalar_oracle(fmt, acc, dist, seed):
    trace = generate_trace(tokens=29, q_heads=4, kv_heads=2, head_dim=16, dtype=fmt.name, dist=dist, seed=seed)
    cfg = HwConfig(fmt, FP32 if acc == "fp32" else fmt, lanes=4, block_tokens=5)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(trace.tokens)
    partitions = [perm[:0], perm[:7], perm[7:8], perm[8:]]     # one empty, one single-token
    tree = ((0, 1), (2, (3,)))
    got = fmt.to_float(pam_attention_hw(trace.q[0], trace.k, trace.v, partitions, tree, cfg))
    q, k, v = trace.as_float()
    want = ScalarOracle(cfg).attention(q[0], k, v, partitions, tree)
    np.testing.assert_array_equal(got, want)


CONTEXTS = [1, 7, 256, 1500]


@pytest.mark.parametrize("fmt", [FP16, BF16], ids=str)
@pytest.mark.parametrize("dist", ["gaussian", "heavy"])
@pytest.mark.parametrize("head_dim", [64, 128])
@pytest.mark.parametrize("tokens", CONTEXTS)
def test_within_stated_bound(fmt, dist, head_dim, tokens, seed):
    trace = generate_trace(tokens=tokens, q_heads=4, kv_heads=1, head_dim=head_dim, dtype=fmt.name,
                           dist=dist, seed=seed + tokens)
    q, k, v = trace.as_float()
    partitions = np.array_split(np.arange(tokens), 4)
    out = fmt.to_float(pam_attention_hw(trace.q[0], trace.k, trace.v, partitions, None, HwConfig(fmt, FP32)))
    ref = decode_attention(q[0], k, v)
    err = attention_error(out, ref)
    assert err["max_rel_err"] <= attention_bound(fmt, FP32), err
    # The derived bound, per head (every block size and tree: B = 128 here, a flat RU over 4 banks).
    per_head = np.abs(out - ref).max(axis=1) / np.abs(ref).max(axis=1)
    bound = attention_error_bound(q[0], k, v, fmt, rescale_limit(map(len, partitions), 128, 5))
    assert np.all(per_head <= bound), (per_head / bound, seed)


@pytest.mark.parametrize("fmt", [FP16, BF16], ids=str)
def test_the_derived_bound_holds_for_small_blocks_nested_trees_and_a_dominant_sink(fmt, seed):
    """A sink token scored far above the rest (real attention's shape), B = 4, a nested tree, 9 banks."""
    rng = np.random.default_rng(seed)
    trace = generate_trace(tokens=300, q_heads=4, kv_heads=2, head_dim=64, dtype=fmt.name, dist="heavy", seed=seed)
    q, k, v = trace.as_float()
    k[0] = q[0, 0] * 12 / np.linalg.norm(q[0, 0]) ** 2 * 8          # the sink: its score towers over the others
    k = fmt.to_float(fmt.from_float(k))
    kb = fmt.from_float(k).astype(np.int64)
    partitions = np.array_split(rng.permutation(300), 9)
    tree = ((0, 1, 2), ((3, 4), 5), (6, (7, 8)))
    out = fmt.to_float(pam_attention_hw(trace.q[0], kb, trace.v, partitions, tree, HwConfig(fmt, FP32, 16, 4)))
    ref = decode_attention(q[0], k, v)
    per_head = np.abs(out - ref).max(axis=1) / np.abs(ref).max(axis=1)
    bound = attention_error_bound(q[0], k, v, fmt, rescale_limit(map(len, partitions), 4, 9 + 6))
    print(f"seed {seed}: error/bound {np.round(per_head / bound, 3)}")
    assert np.all(per_head <= bound), (per_head / bound, seed)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", [FP16, BF16], ids=str)
def test_within_stated_bound_32k(fmt, seed):
    trace = generate_trace(tokens=32768, q_heads=2, kv_heads=1, head_dim=128, dtype=fmt.name, dist="heavy",
                           seed=seed)
    q, k, v = trace.as_float()
    out = fmt.to_float(pam_attention_hw(trace.q[0], trace.k, trace.v, np.array_split(np.arange(32768), 8),
                                        cfg=HwConfig(fmt, FP32)))
    err = attention_error(out, decode_attention(q[0], k, v))
    assert err["max_rel_err"] <= attention_bound(fmt, FP32), err


def test_fp32_accumulation_beats_16bit_on_long_contexts(seed):
    trace = generate_trace(tokens=3000, q_heads=2, kv_heads=1, head_dim=64, dtype="fp16", seed=seed)
    q, k, v = trace.as_float()
    ref = decode_attention(q[0], k, v)
    errs = {acc.name: attention_error(FP16.to_float(pam_attention_hw(
        trace.q[0], trace.k, trace.v, [np.arange(3000)], None, HwConfig(FP16, acc))), ref)["max_rel_err"]
        for acc in (FP32, FP16)}
    assert errs["fp16"] > 10 * errs["fp32"], errs


@pytest.mark.parametrize("fmt", [FP16, BF16], ids=str)
def test_one_token_returns_its_value_exactly(fmt, seed):
    trace = generate_trace(tokens=1, q_heads=4, kv_heads=2, head_dim=32, dtype=fmt.name, dist="heavy", seed=seed)
    out = pam_attention_hw(trace.q[0], trace.k, trace.v, [np.arange(1)], cfg=HwConfig(fmt, FP32))
    assert np.array_equal(out, np.repeat(trace.v[0], 2, axis=0))


def test_empty_banks_do_not_change_a_bit(seed):
    """Identity leaves (and an all-empty subtree) added to the same RUs leave every output bit unchanged."""
    trace = generate_trace(tokens=100, q_heads=4, kv_heads=2, head_dim=32, dist="heavy", seed=seed)
    parts = np.array_split(np.arange(100), 3)
    empty = np.array([], np.int64)
    base = pam_attention_hw(trace.q[0], trace.k, trace.v, parts, ((0, 1), (2,)))
    padded = pam_attention_hw(trace.q[0], trace.k, trace.v,
                              [empty, parts[0], empty, parts[1], parts[2], empty, empty, empty],
                              ((0, 1, 2, 3), (4, 5), (6, 7)))
    assert np.array_equal(base, padded)


def test_pam_tree_from_placement(seed):
    tiers = (TierShape("hbm", 1, 2, 2), TierShape("ddr", 1, 1, 2))
    rng = np.random.default_rng(seed)
    coords = np.stack([np.zeros(50, int), np.zeros(50, int), rng.integers(0, 2, 50), rng.integers(0, 2, 50)], 1)
    coords[40:] = [1, 0, 0, 1]
    pl = Placement(tiers, coords)
    trace = generate_trace(tokens=50, q_heads=2, kv_heads=1, head_dim=32, seed=seed)
    q, k, v = trace.as_float()
    out = FP16.to_float(pam_attention_hw(trace.q[0], trace.k, trace.v, pl.partitions(), pl.tree()))
    assert attention_error(out, decode_attention(q[0], k, v))["max_rel_err"] <= attention_bound(FP16, FP32)


def test_block_tokens_for_buffer_sizes():
    assert block_tokens_for(512, FP32, 1) == 128 and block_tokens_for(512, FP32, 8) == 16
    assert block_tokens_for(128, FP32, 1) == 32 and block_tokens_for(128, FP16, 8) == 8
    with pytest.raises(ValueError, match="cannot hold"):
        block_tokens_for(128, FP32, 64)


@pytest.mark.parametrize("kwargs,match", [({"lanes": 12}, "lanes must be a power of two"),
                                          ({"block_tokens": 0}, "block_tokens"),
                                          ({"fmt": FP32, "acc": FP16}, "cannot hold")])
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HwConfig(**kwargs)


def test_head_dim_must_fit_lanes():
    trace = generate_trace(tokens=3, q_heads=1, kv_heads=1, head_dim=24)
    with pytest.raises(ValueError, match="head_dim 24 is not a multiple of lanes 16"):
        pam_attention_hw(trace.q[0], trace.k, trace.v, [np.arange(3)])


def test_denominator_overflow_is_reported():
    big = FP32.from_float([1e6]).astype(np.int64)
    top = Partial(np.zeros(1, np.int64), big, np.zeros((1, 4), np.int64))
    with pytest.raises(OverflowError, match="exceeds the fp16 range"):
        finalize(top, HwConfig(FP16, FP32, 4, 4))
