"""Float64 reference against an independent per-head loop, GQA mapping, shape errors, purity."""

import math

import numpy as np
import pytest

from golden.reference import decode_attention


def loop_attention(q, k, v):
    """Textbook attention, one head at a time with math.exp: an independent oracle."""
    q_heads, d = q.shape
    group = q_heads // k.shape[1]
    out = np.zeros((q_heads, d))
    for h in range(q_heads):
        kv = h // group
        scores = [float(q[h] @ k[t, kv]) / math.sqrt(d) for t in range(k.shape[0])]
        top = max(scores)
        w = [math.exp(s - top) for s in scores]
        total = sum(w)
        out[h] = sum(wi * v[t, kv] for t, wi in enumerate(w)) / total
    return out


@pytest.mark.parametrize("q_heads,kv_heads", [(1, 1), (4, 4), (8, 2), (5, 1)])
def test_matches_loop(q_heads, kv_heads, rng):
    q = rng.standard_normal((q_heads, 16))
    k = rng.standard_normal((23, kv_heads, 16))
    v = rng.standard_normal((23, kv_heads, 16))
    np.testing.assert_allclose(decode_attention(q, k, v), loop_attention(q, k, v), rtol=1e-12, atol=1e-14)


def test_gqa_heads_share_kv(rng):
    k = rng.standard_normal((9, 2, 8))
    v = rng.standard_normal((9, 2, 8))
    q = np.repeat(rng.standard_normal((2, 8)), 3, axis=0)     # heads 0-2 equal, 3-5 equal
    out = decode_attention(q, k, v)
    assert np.allclose(out[0], out[2]) and np.allclose(out[3], out[5]) and not np.allclose(out[0], out[3])


def test_one_token_returns_its_value(rng):
    v = rng.standard_normal((1, 1, 8))
    out = decode_attention(rng.standard_normal((3, 8)), rng.standard_normal((1, 1, 8)), v)
    assert np.allclose(out, v[0, 0])


def test_inputs_unchanged(rng):
    q, k, v = rng.standard_normal((4, 8)), rng.standard_normal((5, 2, 8)), rng.standard_normal((5, 2, 8))
    copies = [x.copy() for x in (q, k, v)]
    decode_attention(q, k, v)
    assert all(np.array_equal(a, b) for a, b in zip((q, k, v), copies))


@pytest.mark.parametrize("shapes,match", [
    (((4, 8), (5, 3, 8), (5, 3, 8)), "multiple of kv_heads"),
    (((4, 8), (5, 2, 4), (5, 2, 4)), "head_dim"),
    (((4, 8), (5, 2, 8), (6, 2, 8)), "k and v"),
    (((8,), (5, 2, 8), (5, 2, 8)), "q must be"),
    (((4, 8), (0, 2, 8), (0, 2, 8)), "0 tokens"),
])
def test_bad_shapes(shapes, match):
    with pytest.raises(ValueError, match=match):
        decode_attention(*(np.zeros(s) for s in shapes))
