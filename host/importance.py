"""Token importance: Eq. 7 with pluggable score sources, and device importance (Eq. 8).

Eq. 7: I_i^(j) = λ·S_i^(j) + (1 − λ)·I_i^(j−1), λ = 0.6 by default; a token
that appears at step j starts from I^(j−1) = 0.

Score sources turn one decode step's query into a score S_i per token; every
source returns non-negative scores that sum to 1 over the context (a
distribution of attention):

* ``oracle``: the exact attention probabilities, mean over query heads;
* ``double_sparsity``: softmax of q·k over a few *label channels* (the
  channels with the largest mean |k|, 1/8 of head_dim: 8x compression);
* ``h2o``: H2O-style accumulated attention: the running sum of the exact
  probabilities over past steps, normalised;
* ``quest``: Quest-style page bound: for each page of ``page`` tokens,
  Σ_d max(q_d·min_k d, q_d·max_k d), shared by the page's tokens, then
  softmax-normalised.

Device importance (Eq. 8), as the project reads it: IS_D = the mean
importance of the tokens that device D holds (sum over D divided by D's
token count). Algorithm 2 swaps tokens one for one, so it keeps every count
fixed, and a ratio of means is then a ratio of sums up to a constant.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from golden.reference import check_shapes, expand_kv

__all__ = ["SCORE_SOURCES", "ImportanceTracker", "device_importance", "label_channels",
           "oracle_scores", "double_sparsity_scores", "quest_scores", "H2OScores"]


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def oracle_scores(q, k) -> np.ndarray:
    """Exact attention probabilities, mean over query heads.

    q : [q_heads, head_dim]; k : [tokens, kv_heads, head_dim] -> [tokens]
    """
    group = check_shapes(q, k, k)
    q = np.asarray(q, np.float64)
    keys = expand_kv(np.asarray(k, np.float64), group)                   # [q_heads, tokens, d]
    p = _softmax(np.einsum("hd,htd->ht", q, keys) / np.sqrt(q.shape[1]))
    return p.mean(axis=0)


def label_channels(k, compression: int = 8) -> np.ndarray:
    """The head_dim/compression channels with the largest mean |k| (an offline calibration)."""
    k = np.asarray(k, np.float64)
    r = max(1, k.shape[-1] // compression)
    return np.sort(np.argsort(np.abs(k).mean(axis=(0, 1)))[::-1][:r])


def double_sparsity_scores(q, k, channels: np.ndarray) -> np.ndarray:
    """Softmax of q·k over the label ``channels`` only, mean over query heads."""
    group = check_shapes(q, k, k)
    q = np.asarray(q, np.float64)[:, channels]
    keys = expand_kv(np.asarray(k, np.float64)[:, :, channels], group)
    p = _softmax(np.einsum("hd,htd->ht", q, keys) / np.sqrt(np.asarray(k).shape[-1]))
    return p.mean(axis=0)


def quest_scores(q, k, page: int = 16) -> np.ndarray:
    """Quest page upper bounds, shared by each page's tokens, softmax-normalised per head."""
    group = check_shapes(q, k, k)
    if page < 1:
        raise ValueError(f"page must be >= 1, not {page}")
    q = np.asarray(q, np.float64)
    keys = expand_kv(np.asarray(k, np.float64), group)                   # [q_heads, tokens, d]
    tokens = keys.shape[1]
    pad = -tokens % page
    padded = np.pad(keys, ((0, 0), (0, pad), (0, 0)), mode="edge").reshape(keys.shape[0], -1, page, keys.shape[2])
    lo, hi = padded.min(axis=2), padded.max(axis=2)                      # [q_heads, pages, d]
    bound = np.maximum(q[:, None, :] * lo, q[:, None, :] * hi).sum(axis=2) / np.sqrt(q.shape[1])
    per_token = np.repeat(bound, page, axis=1)[:, :tokens]
    return _softmax(per_token).mean(axis=0)


class H2OScores:
    """Accumulated attention (H2O): S = Σ over past steps of the exact probabilities, normalised."""

    def __init__(self):
        self._total = np.zeros(0)

    def __call__(self, q, k) -> np.ndarray:
        p = oracle_scores(q, k)
        total = np.zeros(len(p))
        total[:len(self._total)] = self._total[:len(p)]
        self._total = total + p
        return self._total / self._total.sum()


SCORE_SOURCES: dict[str, Callable[..., object]] = {
    "oracle": lambda k: oracle_scores,
    "double_sparsity": lambda k: (lambda q, keys, ch=label_channels(k): double_sparsity_scores(q, keys, ch)),
    "h2o": lambda k: H2OScores(),
    "quest": lambda k: quest_scores,
}


class ImportanceTracker:
    """Eq. 7 over a growing context.

    Parameters
    ----------
    lam : float
        λ in (0, 1]; 0.6 by default (paper).
    """

    def __init__(self, lam: float = 0.6):
        if not 0 < lam <= 1:
            raise ValueError(f"lam must be in (0, 1], not {lam!r}")
        self.lam = lam
        self.importance = np.zeros(0)

    def update(self, scores) -> np.ndarray:
        """Fold one step's scores [tokens] in; the context may have grown since the last step."""
        scores = np.asarray(scores, np.float64)
        if scores.ndim != 1 or len(scores) < len(self.importance):
            raise ValueError(f"scores must be 1-D and cover the {len(self.importance)} known tokens, "
                             f"got shape {scores.shape}")
        if not np.all(np.isfinite(scores)) or np.any(scores < 0):
            raise ValueError("scores must be finite and non-negative")
        previous = np.zeros(len(scores))
        previous[:len(self.importance)] = self.importance
        self.importance = self.lam * scores + (1 - self.lam) * previous
        return self.importance


def device_importance(importance, device_of_token, devices: int) -> np.ndarray:
    """IS_D: mean importance of each device's tokens (0 for a device with none). [devices]"""
    importance = np.asarray(importance, np.float64)
    device_of_token = np.asarray(device_of_token)
    if device_of_token.shape != importance.shape:
        raise ValueError(f"device_of_token {device_of_token.shape} and importance {importance.shape} differ")
    if len(device_of_token) and (device_of_token.min() < 0 or device_of_token.max() >= devices):
        raise ValueError(f"device index out of range 0..{devices - 1}")
    total = np.bincount(device_of_token, weights=importance, minlength=devices)
    count = np.bincount(device_of_token, minlength=devices)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)
