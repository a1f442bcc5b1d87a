"""Token importance: Eq. 7, the four score sources, device importance (Eq. 8)."""

import numpy as np
import pytest

from golden.reference import decode_attention
from host.importance import (SCORE_SOURCES, H2OScores, ImportanceTracker, device_importance,
                             double_sparsity_scores, label_channels, oracle_scores, quest_scores)
from golden.traces.format import generate_trace


def heavy(tokens=400, seed=0):
    trace = generate_trace(tokens=tokens, steps=3, q_heads=4, kv_heads=2, head_dim=64, dist="heavy", seed=seed)
    q, k, v = trace.as_float()
    return q, k, v


def test_eq7_over_a_growing_context():
    tracker = ImportanceTracker(lam=0.6)
    s1, s2 = np.array([0.5, 0.5]), np.array([0.2, 0.3, 0.5])
    tracker.update(s1)
    got = tracker.update(s2)
    np.testing.assert_allclose(got, [0.6 * 0.2 + 0.4 * 0.3, 0.6 * 0.3 + 0.4 * 0.3, 0.6 * 0.5])


@pytest.mark.parametrize("bad,match", [(np.array([0.1]), "cover the 2 known tokens"),
                                       (np.array([0.1, -1.0]), "non-negative"),
                                       (np.array([0.1, np.nan]), "finite")])
def test_eq7_rejects_bad_scores(bad, match):
    tracker = ImportanceTracker()
    tracker.update(np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match=match):
        tracker.update(bad)
    with pytest.raises(ValueError, match="lam must be in"):
        ImportanceTracker(lam=0)


def test_oracle_is_the_mean_attention_distribution(seed):
    q, k, v = heavy(seed=seed)
    s = oracle_scores(q[0], k)
    assert abs(s.sum() - 1) < 1e-12 and s.min() >= 0
    # Attention output with V = one-hot token indicators recovers the weights.
    onehot = np.eye(len(k))[:, None, :].repeat(2, axis=1)      # [tokens, kv_heads, tokens]
    qq = np.pad(q[0], ((0, 0), (0, len(k) - q.shape[2])))
    kk = np.pad(k, ((0, 0), (0, 0), (0, len(k) - k.shape[2])))
    weights = decode_attention(qq, kk, onehot, scale=1 / np.sqrt(q.shape[2]))
    np.testing.assert_allclose(s, weights.mean(axis=0), atol=1e-12)


def test_sources_reduce_to_the_oracle_at_full_resolution(seed):
    q, k, _ = heavy(seed=seed)
    oracle = oracle_scores(q[0], k)
    np.testing.assert_allclose(double_sparsity_scores(q[0], k, np.arange(k.shape[2])), oracle, atol=1e-12)
    np.testing.assert_allclose(quest_scores(q[0], k, page=1), oracle, atol=1e-12)
    h2o = H2OScores()
    h2o(q[0], k)
    np.testing.assert_allclose(h2o(q[0], k), oracle, atol=1e-12)


def test_token_level_sources_find_the_heavy_hitters(seed):
    q, k, _ = heavy(tokens=1000, seed=seed)
    oracle = oracle_scores(q[0], k)
    top = set(np.argsort(oracle)[-50:])
    for name, make in SCORE_SOURCES.items():
        s = make(k)(q[0], k)
        assert abs(s.sum() - 1) < 1e-9 and s.shape == oracle.shape and s.min() >= 0
        if name != "quest":        # page-level: tested on its own property below
            overlap = len(top & set(np.argsort(s)[-100:])) / 50
            assert overlap >= 0.5, (name, overlap)


def test_quest_page_bound_is_an_upper_bound(seed):
    q, k, _ = heavy(tokens=203, seed=seed)          # a ragged last page
    page = 16
    group = q.shape[1] // k.shape[1]
    for h in range(q.shape[1]):
        exact = k[:, h // group] @ q[0, h]
        bound = np.maximum(q[0, h] * np.minimum.reduceat(k[:, h // group], range(0, 203, page), axis=0),
                           q[0, h] * np.maximum.reduceat(k[:, h // group], range(0, 203, page), axis=0)).sum(1)
        assert np.all(np.repeat(bound, page)[:203] >= exact - 1e-9)
    s = quest_scores(q[0], k, page)
    assert np.all(s[:16] == s[0]) and np.allclose(s.sum(), 1)


def test_label_channels_are_the_outlier_channels():
    trace = generate_trace(tokens=500, head_dim=128, dist="heavy", seed=4)
    _, k, _ = trace.as_float()
    ch = label_channels(k)
    assert len(ch) == 16
    scale = np.abs(k).mean(axis=(0, 1))
    outliers = set(np.flatnonzero(scale > 4 * np.median(scale)))
    assert outliers and outliers <= set(ch)


def test_device_importance():
    imp = np.array([1.0, 3.0, 0.5, 0.5, 2.0])
    dev = np.array([0, 0, 1, 1, 2])
    np.testing.assert_allclose(device_importance(imp, dev, 4), [2.0, 0.5, 2.0, 0.0])
    with pytest.raises(ValueError, match="out of range 0..2"):
        device_importance(imp, np.array([0, 0, 1, 3, 2]), 3)
