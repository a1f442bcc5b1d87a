"""Decode traces with context locality (format v2), and the statistics of the attention they realise.

The structure is built into q and k, so the *computed* attention shows it:

* **sinks**: the first ``sinks`` tokens carry a shared sink direction that
  every query also carries;
* **recency**: keys and queries carry RoPE-like rotating components
  cos/sin(ω·position) at a few frequencies, so q·k peaks for keys near the
  query's position, over roughly ``window`` tokens;
* **heavy hitters**: a few percent of tokens belong to one of ``topics``
  topics (a key component on that topic's direction). The query's topic mix
  drifts slowly from step to step, so the heavy hitters persist and change
  gradually;
* the remaining dimensions carry random content, which gives a background
  of near-uniform attention.

Each step appends one token, and its query attends to the whole context so
far (trace format v2).

With ``locality=False`` the same keys and values come with a **control**
query: no sink, recency or topic component, only random content, scaled by
``_CONTROL_Q`` so that attention is about as concentrated, but on tokens
that change from step to step. It is the baseline that ``pam schedule``
compares against.
"""

from __future__ import annotations

import numpy as np

from golden.reference import expand_kv

from .format import TRACE_DTYPES, KVTrace, TraceError, check_trace_size

__all__ = ["generate_locality_trace", "locality_stats"]

_FREQS = 4
# Component magnitudes (scores are divided by sqrt(head_dim), about 11 at d = 128).
_SINK_K, _SINK_Q = 10.0, 12.0         # sink score about 10.6
_REC_K, _REC_Q = 5.5, 5.0             # recency peak about 9.7, fading over ~window tokens
_TOPIC_K, _TOPIC_Q = 8.0, 14.0        # heavy-hitter score about 10 x the topic's weight
_CONTENT_Q = 0.9                      # background score spread about 0.8
_CONTROL_Q = 4.0                      # control query: content only, as peaked as the locality query


def generate_locality_trace(*, prompt: int, steps: int, q_heads: int = 8, kv_heads: int = 2, head_dim: int = 128,
                            dtype: str = "fp16", seed: int = 0, sinks: int = 4, window: int = 64,
                            topics: int = 8, topical: float = 0.03, drift: float = 0.05,
                            locality: bool = True) -> KVTrace:
    """A v2 trace of ``prompt`` tokens plus one new token per step for ``steps`` steps.

    ``locality=False``: the control, whose queries are independent from step to step (module docstring).
    """
    if dtype not in TRACE_DTYPES:
        raise TraceError(f"dtype: {dtype!r} is not one of {sorted(TRACE_DTYPES)}")
    for field, value, low in (("prompt", prompt, 1), ("steps", steps, 1), ("q_heads", q_heads, 1),
                              ("kv_heads", kv_heads, 1), ("sinks", sinks, 0), ("window", window, 1),
                              ("topics", topics, 1)):
        if not isinstance(value, int) or value < low:
            raise TraceError(f"{field}: must be an integer >= {low}, not {value!r}")
    if q_heads % kv_heads:
        raise TraceError(f"q_heads: {q_heads} is not a multiple of kv_heads {kv_heads}")
    reserved = 1 + 2 * _FREQS + topics
    if head_dim < reserved + 8:
        raise TraceError(f"head_dim: {head_dim} is too small for {reserved} structured dimensions plus content")
    if not (0 <= topical <= 1 and 0 <= drift <= 1):
        raise TraceError(f"topical ({topical}) and drift ({drift}) must be in [0, 1]")
    check_trace_size(prompt + steps, kv_heads, head_dim, steps, q_heads)
    rng = np.random.default_rng(seed)
    tokens = prompt + steps
    content = head_dim - reserved
    sink_dim, rec0, topic0, content0 = 0, 1, 1 + 2 * _FREQS, reserved
    omegas = np.pi / (window * 2.0 ** np.arange(_FREQS))                   # [freqs]
    pos = np.arange(tokens)

    k = np.zeros((tokens, kv_heads, head_dim))
    k[:, :, content0:] = rng.standard_normal((tokens, kv_heads, content))
    k[:sinks, :, sink_dim] = _SINK_K
    k[:, :, rec0:topic0:2] = _REC_K * np.cos(np.outer(pos, omegas))[:, None, :]
    k[:, :, rec0 + 1:topic0:2] = _REC_K * np.sin(np.outer(pos, omegas))[:, None, :]
    k[:sinks, :, rec0:topic0] = 0.0          # sinks do not rotate: they score the same from any distance
    topic_of = np.where(rng.random(tokens) < topical, rng.integers(0, topics, tokens), -1)
    topic_of[:sinks] = -1
    for t in np.flatnonzero(topic_of >= 0):
        k[t, :, topic0 + topic_of[t]] = _TOPIC_K

    # The query's topic mix: a slowly drifting distribution that favours one or two topics.
    logits = rng.standard_normal(topics) * 3
    q = np.zeros((steps, q_heads, head_dim))
    for s in range(steps):
        logits = logits + rng.standard_normal(topics) * 3 * drift
        mix = np.exp(logits - logits.max())
        mix /= mix.sum()
        t = prompt + s
        if not locality:
            q[s, :, content0:] = rng.standard_normal((q_heads, content)) * _CONTROL_Q
            continue
        q[s, :, sink_dim] = _SINK_Q
        q[s, :, rec0:topic0:2] = _REC_Q * np.cos(omegas * t)
        q[s, :, rec0 + 1:topic0:2] = _REC_Q * np.sin(omegas * t)
        q[s, :, topic0:content0] = _TOPIC_Q * mix
        q[s, :, content0:] = rng.standard_normal((q_heads, content)) * _CONTENT_Q
    v = rng.standard_normal((tokens, kv_heads, head_dim))
    fmt = TRACE_DTYPES[dtype]
    info = {"generator": "pam trace gen --locality", "seed": seed, "sinks": sinks, "window": window,
            "topics": topics, "topical": topical, "drift": drift, "locality": locality}
    if not locality:
        info["generator"] = "pam trace gen --control"
    return KVTrace(fmt, *(fmt.from_float(x).astype(np.uint16) for x in (k, v, q)), info=info, prompt_tokens=prompt)


def locality_stats(trace: KVTrace, top_fraction: float = 0.01) -> dict:
    """Realised attention structure, from the exact attention of every step (mean over query heads).

    ``top1_mass`` / ``top10_mass``: attention mass on the top 1% / 10% of the
    context, mean over steps. ``topk_overlap``: |top-k(s) ∩ top-k(s+1)| / k with
    k = max(1, top_fraction · context), mean over consecutive steps: the
    locality itself. ``sink_mass``, ``recent_mass``: mass on the first 4
    tokens and on the newest 64.
    """
    q, k, _ = trace.as_float()
    group = trace.group
    stats = {"top1_mass": [], "top10_mass": [], "sink_mass": [], "recent_mass": [], "topk_overlap": []}
    previous = None
    for s in range(trace.steps):
        n = trace.context(s)
        keys = expand_kv(k[:n], group)                                     # [q_heads, n, d]
        scores = np.einsum("hd,htd->ht", q[s], keys) / np.sqrt(trace.head_dim)
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        p = (p / p.sum(axis=1, keepdims=True)).mean(axis=0)                # [n]
        ranked = np.sort(p)[::-1]
        stats["top1_mass"].append(ranked[:max(1, n // 100)].sum())
        stats["top10_mass"].append(ranked[:max(1, n // 10)].sum())
        stats["sink_mass"].append(p[:4].sum())
        stats["recent_mass"].append(p[-64:].sum())
        kk = max(1, int(top_fraction * n))
        top = set(np.argsort(p)[-kk:].tolist())
        if previous is not None:
            stats["topk_overlap"].append(len(top & previous) / kk)
        previous = top
    return {name: float(np.mean(values)) if values else None for name, values in stats.items()}
