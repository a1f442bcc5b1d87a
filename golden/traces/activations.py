"""A synthetic stream of a request's *activated* tokens and their scores, per decode step.

It stands in for the realised attention of a long request where scoring real q and k would cost more than
the scheduler it feeds (``pam bench schedule``, the system model's host profile). With ``locality``: the
sink tokens, the newest quarter of the activated budget (the recency window), and a persistent set of heavy
hitters of which a fraction ``drift`` is replaced each step; each token keeps a Pareto-distributed weight,
so its score persists too. Without: the same number of tokens, drawn afresh each step.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SINKS", "activated_stream"]

SINKS = 4


def activated_stream(rng: np.random.Generator, prompt: int, steps: int, sparsity: float, locality: bool,
                     drift: float = 0.05):
    """Per step: (context, activated token ids, their scores summing to 1)."""
    weights = rng.pareto(1.5, prompt + steps) + 1.0
    heavy = None
    for step in range(steps):
        n = prompt + step + 1
        k = max(SINKS + 2, int(sparsity * n))
        if not locality:
            tokens = rng.choice(n, k, replace=False)
        else:
            recent = np.arange(n - k // 4, n)
            budget = k - SINKS - len(recent)
            if heavy is None:
                heavy = rng.choice(n - len(recent), budget, replace=False)
            else:
                keep = rng.random(len(heavy)) >= drift
                heavy = np.concatenate([heavy[keep], rng.choice(n - len(recent), budget - keep.sum())])
            tokens = np.unique(np.concatenate([np.arange(SINKS), recent, heavy]))
        scores = weights[tokens] / weights[tokens].sum()
        yield n, tokens, scores
