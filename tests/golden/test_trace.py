"""KV trace format v1: round trip, generation, and a clear error for every kind of bad input."""

import json

import numpy as np
import pytest

from golden.traces.format import KVTrace, TraceError, generate_trace, read_trace, write_trace


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
@pytest.mark.parametrize("dist", ["gaussian", "heavy"])
def test_round_trip(tmp_path, dtype, dist, seed):
    trace = generate_trace(tokens=33, steps=3, q_heads=6, kv_heads=3, head_dim=16, dtype=dtype, dist=dist, seed=seed)
    path = tmp_path / "t.npz"
    write_trace(path, trace)
    back = read_trace(path)
    assert back.fmt == trace.fmt and back.info == trace.info
    for name in ("k", "v", "q"):
        assert np.array_equal(getattr(back, name), getattr(trace, name))
    assert (back.tokens, back.steps, back.q_heads, back.kv_heads, back.head_dim, back.group) == (33, 3, 6, 3, 16, 2)


def test_generation_is_seeded():
    a, b, c = (generate_trace(tokens=20, seed=s) for s in (1, 1, 2))
    assert np.array_equal(a.k, b.k) and not np.array_equal(a.k, c.k)


def test_heavy_traces_have_outlier_channels_and_peaked_attention():
    heavy = generate_trace(tokens=2000, head_dim=128, dist="heavy", seed=3)
    gauss = generate_trace(tokens=2000, head_dim=128, dist="gaussian", seed=3)
    for trace, expect in ((heavy, True), (gauss, False)):
        q, k, _ = trace.as_float()
        channel_scale = np.abs(k).mean(axis=(0, 1))
        has_outliers = channel_scale.max() > 4 * np.median(channel_scale)
        assert has_outliers == expect
    # Attention mass of the top 1% tokens: much larger for heavy-tailed keys.
    def top_mass(trace):
        q, k, _ = trace.as_float()
        s = (k[:, 0] @ q[0, 0]) / np.sqrt(trace.head_dim)
        p = np.exp(s - s.max())
        p /= p.sum()
        return np.sort(p)[-20:].sum()
    assert top_mass(heavy) > 2 * top_mass(gauss)


def save_raw(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def good_arrays():
    trace = generate_trace(tokens=4, q_heads=2, kv_heads=1, head_dim=8)
    meta = trace.metadata()
    return meta, {"k": trace.k, "v": trace.v, "q": trace.q}


def meta_array(meta):
    return np.frombuffer(json.dumps(meta).encode(), np.uint8)


def bad_case(kind):
    meta, arrays = good_arrays()
    if kind == "missing k":
        del arrays["k"]
    elif kind == "extra array":
        arrays["x"] = np.zeros(1)
    elif kind == "k dtype":
        arrays["k"] = arrays["k"].astype(np.float32)
    elif kind == "v shape":
        arrays["v"] = arrays["v"][:3]
    elif kind == "k rank":
        arrays["k"] = arrays["k"][:, 0]
    elif kind == "q head_dim":
        arrays["q"] = arrays["q"][:, :, :4]
    elif kind == "gqa":
        arrays["k"] = np.repeat(arrays["k"], 3, axis=1)
        arrays["v"] = np.repeat(arrays["v"], 3, axis=1)
        meta["kv_heads"] = 3
    elif kind == "nan":
        arrays["v"] = arrays["v"].copy()
        arrays["v"][2, 0, 5] = 0x7E00
    elif kind == "inf":
        arrays["q"] = arrays["q"].copy()
        arrays["q"][0, 1, 0] = 0xFC00
    elif kind == "version":
        meta["version"] = 7
    elif kind == "format":
        meta["format"] = "something-else"
    elif kind == "dtype":
        meta["dtype"] = "fp8"
    elif kind == "meta count":
        meta["tokens"] = 5
    elif kind == "meta type":
        meta["steps"] = "1"
    elif kind == "zero tokens":
        arrays["k"], arrays["v"] = arrays["k"][:0], arrays["v"][:0]
        meta["tokens"] = 0
    if kind == "meta json":
        arrays["meta"] = np.frombuffer(b"{not json", np.uint8)
    else:
        arrays["meta"] = meta_array(meta)
    return arrays


@pytest.mark.parametrize("kind,match", [
    ("missing k", "k: array missing"),
    ("extra array", "x: unexpected array"),
    ("k dtype", "k: dtype must be uint16 bit patterns, not float32"),
    ("v shape", r"v: shape \(3, 1, 8\) differs from k's \(4, 1, 8\)"),
    ("k rank", r"k: shape must be \[tokens, kv_heads, head_dim\], not \(4, 8\)"),
    ("q head_dim", "q: head_dim 4 differs from k's head_dim 8"),
    ("gqa", "q_heads: 2 is not a multiple of kv_heads 3"),
    ("nan", r"v: NaN at index \(2, 0, 5\) \(bits 0x7e00\)"),
    ("inf", r"q: Inf at index \(0, 1, 0\) \(bits 0xfc00\)"),
    ("version", r"meta.version: unknown version 7; this reader knows \[1, 2\]"),
    ("format", "meta.format: expected 'pam-kv-trace', got 'something-else'"),
    ("dtype", "meta.dtype: 'fp8' is not one of"),
    ("meta count", "meta.tokens: says 5 but the arrays have 4"),
    ("meta type", "meta.steps: expected int, got '1'"),
    ("meta json", "meta: not valid UTF-8 JSON"),
    ("zero tokens", "tokens: must be at least 1, not 0"),
])
def test_bad_trace_files(tmp_path, kind, match):
    path = tmp_path / "bad.npz"
    save_raw(path, **bad_case(kind))
    with pytest.raises(TraceError, match=match):
        read_trace(path)


def test_not_a_trace_file(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"this is not a zip")
    with pytest.raises(TraceError, match="is not a .npz trace"):
        read_trace(tmp_path / "junk.npz")
    with pytest.raises(TraceError, match="no such file"):
        read_trace(tmp_path / "absent.npz")
    np.save(tmp_path / "bare.npy", np.zeros(3))
    with pytest.raises(TraceError, match="bare .npy array"):
        read_trace(tmp_path / "bare.npy")


def test_pickled_arrays_are_refused(tmp_path):
    arrays = bad_case("none")
    arrays["k"] = np.array([object()], dtype=object)
    with open(tmp_path / "p.npz", "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(TraceError, match="k: an array of Python objects"):
        read_trace(tmp_path / "p.npz")


@pytest.mark.parametrize("kwargs,match", [({"tokens": 0}, "tokens: must be a positive integer, not 0"),
                                          ({"dtype": "fp64"}, "dtype: 'fp64'"),
                                          ({"dist": "uniform"}, "dist: 'uniform'"),
                                          ({"q_heads": 6, "kv_heads": 4}, "q_heads: 6 is not a multiple")])
def test_bad_generator_arguments(kwargs, match):
    with pytest.raises(TraceError, match=match):
        generate_trace(**{"tokens": 4, **kwargs})


def test_constructor_validates():
    t = generate_trace(tokens=2, q_heads=1, kv_heads=1, head_dim=4)
    with pytest.raises(TraceError, match="k: dtype must be uint16"):
        KVTrace(t.fmt, t.k.astype(np.int32), t.v, t.q)
