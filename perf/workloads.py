"""Request workloads of the evaluation, sampled with a seed.

Online streams (ShareGPT-, WildChat-, HumanEval-like) draw input and output
lengths from log-normal distributions with the stated means. Offline batches
(Arxiv_sum-, Write_doc-like) draw uniform lengths inside 1,500–8,000 tokens of
context. A running decode batch holds each request for as many steps as it
has output tokens, so its mean context is the output-weighted mean of
input + output/2; that is the context a steady decode step sees. The
request-level simulator (``perf/serving.py``) takes the requests'
own lengths from :func:`lengths` instead.

| workload | input mean | output mean | source |
|---|---|---|---|
| sharegpt | 183 | 299 | stated: mean input/output 183/299. A mean context of 534 is stated too, which these means cannot give (183 + 299 = 482): the stated means are kept |
| wildchat | 439 | 299 | stated: mean context 738; output as ShareGPT (assumed) |
| humaneval | 150 | 120 | assumed: short code prompts and completions |
| docchat | 16,000 | 299 | assumed: chat over a long document or a code repository, the online case where KV spills below HBM: log-normal prompts, mean 16k, sigma 0.4 (95% inside 7.4k-33k); output as ShareGPT |
| arxiv_sum | 4,000–7,500 | 200–500 | assumed: long papers, short summaries; inside the stated 1,500–8,000 |
| write_doc | 100–500 | 1,400–7,500 | assumed: short prompts, long documents; inside 1,500–8,000 |
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["WORKLOADS", "Workload", "lengths", "sample"]


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    kind: str                     # online | offline
    input: tuple                  # online: (mean, sigma of the log); offline: (low, high)
    output: tuple


WORKLOADS = {
    "sharegpt": Workload("ShareGPT", "online", (183, 0.9), (299, 0.7)),
    "wildchat": Workload("WildChat", "online", (439, 1.0), (299, 0.7)),
    "humaneval": Workload("HumanEval", "online", (150, 0.4), (120, 0.5)),
    "docchat": Workload("DocChat", "online", (16000, 0.4), (299, 0.7)),
    "arxiv_sum": Workload("Arxiv_sum", "offline", (4000, 7500), (200, 500)),
    "write_doc": Workload("Write_doc", "offline", (100, 500), (1400, 7500)),
}


def _lengths(rng: np.random.Generator, spec: tuple, kind: str, n: int) -> np.ndarray:
    if kind == "online":
        mean, sigma = spec
        return np.maximum(1, np.round(rng.lognormal(np.log(mean) - sigma ** 2 / 2, sigma, n))).astype(int)
    low, high = spec
    return rng.integers(low, high + 1, n)


def lengths(name: str, requests: int = 4096, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Input and output lengths of ``requests`` requests of workload ``name``, seeded."""
    if name not in WORKLOADS:
        raise ValueError(f"unknown workload {name!r}; choose one of {sorted(WORKLOADS)}")
    if requests < 1:
        raise ValueError(f"requests must be >= 1, not {requests}")
    w = WORKLOADS[name]
    index = sorted(WORKLOADS).index(name)
    # Inputs and outputs from streams of their own, so the first n requests of a longer pool are the n of a
    # shorter one: a run twice as long extends the shorter run's requests.
    return (_lengths(np.random.default_rng([seed, index, 0]), w.input, w.kind, requests),
            _lengths(np.random.default_rng([seed, index, 1]), w.output, w.kind, requests))


def sample(name: str, requests: int = 4096, seed: int = 1) -> dict:
    """Sample ``requests`` requests; returns their mean lengths and the decode batch's mean context."""
    inp, out = lengths(name, requests, seed)
    w = WORKLOADS[name]
    context = float(np.sum((inp + out / 2) * out) / np.sum(out))
    return {"workload": w.name, "kind": w.kind, "input_mean": float(inp.mean()), "output_mean": float(out.mean()),
            "context_mean": float((inp + out).mean()), "decode_context": context, "requests": requests, "seed": seed}
