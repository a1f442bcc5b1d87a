"""The public golden functions refuse a wrong dtype or shape with an error naming the argument, its dtype or
shape, and what is expected; every accepted integer dtype gives the same bits."""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from golden.accuracy import attention_error, attention_error_bound
from golden.formats import BF16, FP16, FP32
from golden.hwmodel import HwConfig, bank_partial, finalize, identity_hw, pam_attention_hw, prescale_query, ru_merge
from golden.pamattention import Partial, pam_attention_f64, partial_f64
from golden.reference import decode_attention
from golden.traces.format import generate_trace

SEED = int(os.environ.get("PAM_SEED", "20261122"))
CFG = HwConfig(FP16, FP32, lanes=4, block_tokens=4)


def bits_case(tokens=6, q_heads=2, kv_heads=1, head_dim=8, dtype="fp16"):
    trace = generate_trace(tokens=tokens, q_heads=q_heads, kv_heads=kv_heads, head_dim=head_dim, dtype=dtype,
                           seed=SEED)
    return trace.q[0], trace.k, trace.v


def float_case(tokens=6, q_heads=2, kv_heads=1, head_dim=8):
    rng = np.random.default_rng(SEED)
    return (rng.standard_normal((q_heads, head_dim)), rng.standard_normal((tokens, kv_heads, head_dim)),
            rng.standard_normal((tokens, kv_heads, head_dim)))


def call_hw(which, q, k, v, cfg=CFG):
    """The bit-pattern entry points on a [q_heads, d] / [tokens, 1, d] case (bank_partial on kv head 0)."""
    if which == "pam_attention_hw":
        return pam_attention_hw(q, k, v, [np.arange(len(k))], cfg=cfg)
    if which == "bank_partial":
        k, v = (x[:, 0] if np.ndim(x) == 3 else x for x in (k, v))
        return bank_partial(q, k, v, cfg)
    return prescale_query(q, cfg.fmt)


HW_ENTRIES = ("pam_attention_hw", "bank_partial")


# -- bit patterns ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("entry", HW_ENTRIES)
@pytest.mark.parametrize("arg", ["q", "k", "v"])
def test_float_arrays_where_bits_are_expected_are_refused(entry, arg):
    case = dict(zip("qkv", bits_case()))
    case[arg] = FP16.to_float(case[arg]).astype(np.float32)
    with pytest.raises(TypeError, match=rf"^{arg}: dtype float32, expected uint16 bit patterns of fp16 .*"
                                         rf"FP16\.from_float"):
        call_hw(entry, **case)


def test_prescale_query_refuses_floats_and_names_bf16():
    q = np.ones((2, 8))
    with pytest.raises(TypeError, match=r"^q: dtype float64, expected uint16 bit patterns of bf16"):
        prescale_query(q, BF16)
    with pytest.raises(TypeError, match=r"^fmt: str, expected a FloatFormat"):
        prescale_query(BF16.from_float(q), "bf16")
    with pytest.raises(ValueError, match=r"^q: shape \(\), expected \[\.\.\., head_dim\]"):
        prescale_query(np.uint16(0), FP16)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.bool_])
def test_integers_too_narrow_for_the_bits_are_refused(dtype):
    q, k, v = bits_case()
    with pytest.raises(TypeError, match=rf"^k: dtype {np.dtype(dtype)}, expected uint16 bit patterns of fp16 "
                                         rf"\(or a wider integer dtype\)$"):
        pam_attention_hw(q, k.astype(dtype), v, [np.arange(len(k))], cfg=CFG)


@pytest.mark.parametrize("entry", HW_ENTRIES + ("prescale_query",))
def test_every_wide_enough_integer_dtype_gives_the_same_bits(entry):
    q, k, v = bits_case()
    if entry == "bank_partial":
        q = prescale_query(q, FP16)
    base = call_hw(entry, q, k, v)
    for dtype in (np.uint32, np.int32, np.int64, np.uint64):
        got = call_hw(entry, *(x.astype(dtype) for x in (q, k, v)))
        for a, b in zip(*((x.m, x.l, x.o) if isinstance(x, Partial) else (x,) for x in (base, got))):
            assert np.array_equal(a, b), dtype


def test_shapes_that_disagree_are_refused_naming_the_argument():
    q, k, v = bits_case()
    qs = prescale_query(q, FP16)
    k0, v0 = k[:, 0], v[:, 0]
    cases = [
        (lambda: bank_partial(qs[0], k0, v0, CFG), r"^q: shape \(8,\), expected \[G, head_dim\]"),
        (lambda: bank_partial(qs, k, v, CFG), r"^k: shape \(6, 1, 8\), expected \[tokens, head_dim\]"),
        (lambda: bank_partial(qs, k0, v0[:5], CFG), r"^v: shape \(5, 8\), expected k's shape \(6, 8\)"),
        (lambda: bank_partial(qs, k0[:, :4], v0[:, :4], CFG),
         r"^k: shape \(6, 4\), expected \[tokens, 8\] with q's head_dim \(q shape \(2, 8\)\)"),
        (lambda: pam_attention_hw(q[None], k, v, [np.arange(6)], cfg=CFG), r"^q must be \[q_heads, head_dim\]"),
        (lambda: pam_attention_hw(q, k[:, :, :4], v[:, :, :4], [np.arange(6)], cfg=CFG),
         r"^head_dim of q \(8, shape \(2, 8\)\) and k \(4, shape \(6, 1, 4\)\) differ"),
        (lambda: pam_attention_hw(q, k, v[:5], [np.arange(6)], cfg=CFG), r"^k and v must both be"),
        (lambda: pam_attention_hw(q[:1], np.repeat(k, 2, 1), np.repeat(v, 2, 1), [np.arange(6)], cfg=CFG),
         r"q_heads \(1\) must be a multiple of kv_heads \(2\)"),
        (lambda: pam_attention_hw(q, k, v, [np.arange(6).reshape(2, 3)], cfg=CFG),
         r"^partitions\[0\]: shape \(2, 3\), expected a 1-D array of token indices"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()
    with pytest.raises(TypeError, match=r"^partitions\[1\]: dtype float64, expected integer token indices"):
        pam_attention_hw(q, k, v, [np.arange(3), np.arange(3, 6.0)], cfg=CFG)
    with pytest.raises(TypeError, match=r"^cfg: FloatFormat, expected a HwConfig"):
        pam_attention_hw(q, k, v, [np.arange(6)], cfg=FP16)


def test_partials_are_checked_at_the_reduction_unit_and_the_top():
    part = identity_hw((2,), 8, CFG)
    with pytest.raises(ValueError, match=r"^parts: list, expected a non-empty sequence of Partials"):
        ru_merge([], CFG)
    with pytest.raises(TypeError, match=r"^parts\[1\]: tuple, expected a Partial"):
        ru_merge([part, (part.m, part.l, part.o)], CFG)
    with pytest.raises(TypeError, match=r"^parts\[0\]\.l: dtype float64, expected uint32 bit patterns of fp32"):
        ru_merge([Partial(part.m, part.l.astype(float), part.o)], CFG)
    with pytest.raises(ValueError, match=r"^parts\[1\]: o shape \(2, 4\), expected parts\[0\]'s \(2, 8\)"):
        ru_merge([part, identity_hw((2,), 4, CFG)], CFG)
    with pytest.raises(ValueError, match=r"^top: m \(2,\), l \(3,\) and o \(2, 8\) disagree"):
        finalize(Partial(part.m, np.zeros(3, np.int64), part.o), CFG)
    with pytest.raises(TypeError, match=r"^top: ndarray, expected a Partial"):
        finalize(part.o, CFG)


# -- float values ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("entry", ["decode_attention", "partial_f64", "pam_attention_f64", "attention_error_bound"])
@pytest.mark.parametrize("arg", ["q", "k", "v"])
def test_bit_patterns_where_floats_are_expected_are_refused(entry, arg):
    case = dict(zip("qkv", float_case()))
    case[arg] = FP16.from_float(case[arg])
    call = {"decode_attention": lambda: decode_attention(**case),
            "partial_f64": lambda: partial_f64(**case),
            "pam_attention_f64": lambda: pam_attention_f64(**case, partitions=[np.arange(6)]),
            "attention_error_bound": lambda: attention_error_bound(**case, fmt=FP16)}[entry]
    with pytest.raises(TypeError, match=rf"^{arg}: dtype uint16, expected a float array \(integers here are bit "
                                         rf"patterns: decode them with fmt\.to_float first\)$"):
        call()


def test_narrow_float_dtypes_are_accepted_with_the_same_result():
    q, k, v = bits_case(dtype="bf16")
    wide = [BF16.to_float(x) for x in (q, k, v)]
    narrow = [x.view(BF16.numpy_dtype) for x in (q, k, v)]                  # ml_dtypes bfloat16
    assert np.array_equal(decode_attention(*narrow), decode_attention(*wide))
    assert np.array_equal(decode_attention(*(x.astype(np.float32) for x in wide)), decode_attention(*wide))


def test_attention_error_checks_its_arguments():
    out = np.zeros((2, 8))
    with pytest.raises(ValueError, match=r"^out: shape \(2, 4\), expected ref's shape \(2, 8\)"):
        attention_error(out[:, :4], out)
    with pytest.raises(ValueError, match=r"^ref: shape \(8,\), expected \[q_heads, head_dim\]"):
        attention_error(out[0], out[0])
    with pytest.raises(TypeError, match=r"^out: dtype uint16, expected a float array"):
        attention_error(FP16.from_float(out), out)


# -- generated wrong arguments -----------------------------------------------------------------------------

NOT_BITS = [np.float16, np.float32, np.float64, np.complex64, np.bool_, np.int8, np.uint8, np.int16]
NOT_FLOATS = [np.uint16, np.int16, np.int32, np.int64, np.uint32, np.bool_, np.complex128]


@hypothesis_seed(SEED)
@settings(max_examples=60, deadline=None)
@given(entry_arg=st.sampled_from([(e, a) for e in HW_ENTRIES for a in "qkv"] + [("prescale_query", "q")]),
       dtype=st.sampled_from(NOT_BITS))
def test_generated_wrong_bit_dtypes_name_the_argument(entry_arg, dtype):
    entry, arg = entry_arg
    print(f"hypothesis seed {SEED} (set PAM_SEED to replay): {entry} {arg} {np.dtype(dtype)}")
    case = dict(zip("qkv", bits_case()))
    case[arg] = case[arg].astype(dtype)
    with pytest.raises(TypeError, match=rf"^{arg}: dtype {np.dtype(dtype)}, expected uint16 bit patterns of fp16"):
        call_hw(entry, **case)


@hypothesis_seed(SEED)
@settings(max_examples=60, deadline=None)
@given(arg=st.sampled_from("qkv"), dtype=st.sampled_from(NOT_FLOATS))
def test_generated_wrong_float_dtypes_name_the_argument(arg, dtype):
    print(f"hypothesis seed {SEED} (set PAM_SEED to replay): {arg} {np.dtype(dtype)}")
    case = dict(zip("qkv", float_case()))
    case[arg] = case[arg].astype(dtype)
    with pytest.raises(TypeError, match=rf"^{arg}: dtype {np.dtype(dtype)}, expected a float array"):
        decode_attention(**case)


@hypothesis_seed(SEED)
@settings(max_examples=80, deadline=None)
@given(arg=st.sampled_from("qkv"), shape=st.lists(st.integers(1, 9), min_size=1, max_size=4).map(tuple))
def test_generated_wrong_shapes_are_refused_and_right_ones_pass(arg, shape):
    """A random shape for one argument of bank_partial: refused with a ValueError naming that argument and the
    shape as passed (not the batched shapes inside), unless it is the right shape, when the call succeeds."""
    print(f"hypothesis seed {SEED} (set PAM_SEED to replay): {arg} shape {shape}")
    q, k, v = bits_case(tokens=3)
    case = {"q": prescale_query(q, FP16), "k": k[:, 0], "v": v[:, 0]}
    right = case[arg].shape
    case[arg] = np.zeros(shape, np.uint16)
    if shape == right or (arg == "q" and len(shape) == 2 and shape[1] == 8):
        bank_partial(case["q"], case["k"], case["v"], CFG)
        return
    named = {"q": "q", "k": "[kv]", "v": "[kv]"}[arg]    # a k/v mismatch may be reported on either
    if arg == "q" and len(shape) == 2:
        named = "k"                                     # q of the right rank: k's head_dim disagrees with it
    with pytest.raises(ValueError, match=rf"^{named}: shape") as info:
        bank_partial(case["q"], case["k"], case["v"], CFG)
    assert str(shape) in str(info.value) and "batch" not in str(info.value), info.value
