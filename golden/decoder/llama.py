"""A llama-architecture decoder forward pass in NumPy (float32), with a KV cache.

RMSNorm, grouped-query attention with RoPE, SwiGLU feed-forward, tied
output embedding. RoPE rotates adjacent pairs (2i, 2i+1) by position·θ_i,
θ_i = base^(-2i/head_dim), as ggml's llama does on the converter's permuted
Q and K (rotate-half would scramble them). ``Decoder.step`` runs a run of
tokens (a prompt, or one decode token) and returns, per layer, the
post-RoPE queries and keys and the values of those positions: what a KV
cache holds and what each decode step's attention reads.
"""

from __future__ import annotations

import numpy as np

from .gguf_model import LlamaWeights

__all__ = ["Decoder", "rope"]


def rope(x: np.ndarray, positions: np.ndarray, base: float) -> np.ndarray:
    """Rotate the adjacent pairs of x [..., tokens, heads, head_dim] by position·θ_i."""
    d = x.shape[-1]
    theta = base ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    angle = positions[:, None].astype(np.float64) * theta[None, :]                  # [tokens, d/2]
    cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def _rmsnorm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


class Decoder:
    """The model with its KV cache (post-RoPE K and V per layer, float32)."""

    def __init__(self, weights: LlamaWeights):
        self.weights = weights
        cfg = weights.config
        self.k_cache = [np.zeros((0, cfg.kv_heads, cfg.head_dim), np.float32) for _ in range(cfg.layers)]
        self.v_cache = [np.zeros((0, cfg.kv_heads, cfg.head_dim), np.float32) for _ in range(cfg.layers)]

    @property
    def position(self) -> int:
        return self.k_cache[0].shape[0]

    def step(self, ids) -> tuple[np.ndarray | None, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """Run ``ids`` at the next positions. Returns (logits [n, vocab] or None when the model is a slice of
        its first layers, per layer (q [n, q_heads, d], k [n, kv_heads, d], v [n, kv_heads, d]))."""
        w, cfg = self.weights, self.weights.config
        ids = np.asarray(ids, np.int64)
        n, start = len(ids), self.position
        if start + n > cfg.context:
            raise ValueError(f"tokens: {start + n} exceed the model's context of {cfg.context}")
        positions = np.arange(start, start + n)
        x = w.embedding[ids]
        group, scale = cfg.q_heads // cfg.kv_heads, float(1.0 / np.sqrt(cfg.head_dim))
        causal = np.arange(start + n)[None, :] <= positions[:, None]                     # [n, start + n]
        captured = []
        for layer, b in enumerate(w.blocks):
            h = _rmsnorm(x, b["attn_norm"], cfg.norm_eps)
            q = rope((h @ b["attn_q"].T).reshape(n, cfg.q_heads, cfg.head_dim), positions, cfg.rope_base)
            k = rope((h @ b["attn_k"].T).reshape(n, cfg.kv_heads, cfg.head_dim), positions, cfg.rope_base)
            v = (h @ b["attn_v"].T).reshape(n, cfg.kv_heads, cfg.head_dim)
            q, k, v = (a.astype(np.float32) for a in (q, k, v))
            captured.append((q, k, v))
            self.k_cache[layer] = keys = np.concatenate([self.k_cache[layer], k])
            self.v_cache[layer] = values = np.concatenate([self.v_cache[layer], v])
            kq = np.repeat(keys, group, axis=1)                                          # [t, q_heads, d]
            vq = np.repeat(values, group, axis=1)
            scores = np.einsum("nhd,thd->hnt", q, kq) * scale
            scores = np.where(causal[None], scores, -np.inf)
            p = np.exp(scores - scores.max(axis=-1, keepdims=True))
            p /= p.sum(axis=-1, keepdims=True)
            attn = np.einsum("hnt,thd->nhd", p, vq).reshape(n, cfg.d_model)
            x = x + attn @ b["attn_output"].T
            h = _rmsnorm(x, b["ffn_norm"], cfg.norm_eps)
            gate = h @ b["ffn_gate"].T
            x = x + ((gate / (1.0 + np.exp(-gate))) * (h @ b["ffn_up"].T)) @ b["ffn_down"].T
        if cfg.layers < cfg.total_layers:
            return None, captured
        return _rmsnorm(x, w.output_norm, cfg.norm_eps) @ w.embedding.T, captured
