"""KV traces from the shipped decoder: a prompt of real text, then autoregressive decode (``pam trace capture``).

Each captured layer becomes one v2 trace (``golden.traces.format``): the
post-RoPE K and V of every position (what the KV cache holds) for all kv
heads, and each decode step's post-RoPE queries for all query heads, in FP16
or BF16. Step s feeds the token at position P + s and attends to positions
0 … P + s, as the trace format's v2 context rule says.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from golden.traces.format import TRACE_DTYPES, KVTrace, TraceError

from .gguf_model import LlamaWeights
from .llama import Decoder

__all__ = ["Capture", "capture_traces", "DECODE_MODES"]

DECODE_MODES = ("greedy", "text")


@dataclasses.dataclass(frozen=True)
class Capture:
    traces: dict[int, KVTrace]        # layer -> trace
    prompt_ids: list[int]
    decoded_ids: list[int]           # the tokens fed at the decode steps (positions P … P + S - 1)
    perplexity: float | None         # over the prompt (teacher-forced next-token), None for a layer slice
    continuation: str                # the decoded tokens as text


def capture_traces(weights: LlamaWeights, text: str, text_name: str, *, prompt_tokens: int, steps: int,
                   layers: list[int], dtype: str = "fp16", decode: str = "greedy", offset: int = 0,
                   on_step=None) -> Capture:
    """Run the prompt (``prompt_tokens`` tokens of ``text`` from token ``offset``), then ``steps`` decode steps.

    ``decode``: ``greedy`` feeds the model's own argmax (needs the whole model), ``text`` feeds the text's next
    tokens (works on a slice of the first layers). ``on_step(s)`` is called after each decode step."""
    cfg = weights.config
    if dtype not in TRACE_DTYPES:
        raise ValueError(f"dtype: {dtype!r} is not one of {sorted(TRACE_DTYPES)}")
    if decode not in DECODE_MODES:
        raise ValueError(f"decode: {decode!r} is not one of {list(DECODE_MODES)}")
    if prompt_tokens < 1 or steps < 1:
        raise ValueError(f"prompt tokens ({prompt_tokens}) and steps ({steps}) must be >= 1")
    if prompt_tokens + steps > cfg.context:
        raise ValueError(f"prompt tokens + steps: {prompt_tokens + steps} exceed the model's context of {cfg.context}")
    bad = [layer for layer in layers if not 0 <= layer < cfg.layers]
    if not layers or bad:
        raise ValueError(f"layers: {bad or layers} not in 0..{cfg.layers - 1} (the model loaded has {cfg.layers})")
    if decode == "greedy" and cfg.layers < cfg.total_layers:
        raise ValueError(f"decode: greedy needs all {cfg.total_layers} layers, the model loaded has {cfg.layers}")
    ids = weights.tokenizer.encode(text)
    need = offset + prompt_tokens + (steps if decode == "text" else 0)
    if offset < 0 or need > len(ids):
        raise ValueError(f"text: {text_name} has {len(ids)} tokens; offset {offset}, prompt {prompt_tokens} and "
                         f"{steps if decode == 'text' else 0} text-fed steps need {need}")
    prompt = ids[offset:offset + prompt_tokens]
    decoder = Decoder(weights)
    logits, per_layer = decoder.step(prompt)
    perplexity = None
    if logits is not None:
        z = logits[:-1].astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        perplexity = float(np.exp(-logp[np.arange(len(prompt) - 1), prompt[1:]].mean()))
    queries = {layer: [] for layer in layers}
    fed = []
    for s in range(steps):
        token = int(np.argmax(logits[-1])) if decode == "greedy" else ids[offset + prompt_tokens + s]
        fed.append(token)
        logits, per_layer = decoder.step([token])
        for layer in layers:
            queries[layer].append(per_layer[layer][0][0])
        if on_step is not None:
            on_step(s)
    fmt = TRACE_DTYPES[dtype]
    source = weights.source
    traces = {}
    for layer in layers:
        arrays = {"k": decoder.k_cache[layer], "v": decoder.v_cache[layer], "q": np.stack(queries[layer])}
        bits = {}
        for name, x in arrays.items():
            b = fmt.from_float(x.astype(np.float64)).astype(np.uint16)
            if not np.isfinite(fmt.to_float(b)).all():
                raise TraceError(f"{name}: layer {layer} has values beyond {dtype}'s range (max |x| "
                                 f"{float(np.abs(x).max()):.4g})")
            bits[name] = b
        info = {"generator": "pam trace capture", "model": "SmolLM2-135M-Instruct", "architecture": "llama",
                "package": source.package, "package_version": source.version, "sha256": source.sha256,
                "layer": layer, "layers_in_model": cfg.total_layers, "kv_heads": "all",
                "weights": "4-bit quantised (GGUF Q4_1, embeddings Q8_0): the activations are real, the weights a "
                           "quantised copy of the trained ones",
                "rope": f"adjacent pairs, base {cfg.rope_base:g}", "text": text_name, "text_offset": offset,
                "decode": decode, "prompt_perplexity": perplexity}
        traces[layer] = KVTrace(fmt, bits["k"], bits["v"], bits["q"], info=info, prompt_tokens=prompt_tokens)
    return Capture(traces, prompt, fed, perplexity, weights.tokenizer.decode(fed))
