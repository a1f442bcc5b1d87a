"""Bit-exact multiply/add/convert/max against numpy float16, ml_dtypes bfloat16 and float32."""

import itertools

import numpy as np
import pytest

from golden.formats import BF16, FP16, FP32, format_by_name
from golden.fpops import convert, fadd, fmax, fmul, fneg, round_pack

FORMATS16 = [FP16, BF16]


def special_values(fmt):
    """±0, smallest/largest subnormal, smallest/largest normal, ±1, ±inf, NaN."""
    mags = [0, 1, (1 << fmt.man_bits) - 1, 1 << fmt.man_bits, fmt.max_finite, fmt.one, fmt.inf]
    return np.array([m | s for m in mags for s in (0, fmt.sign_mask)] + [fmt.qnan, fmt.inf | 1], np.int64)


def reference(op, a, b, fmt):
    x, y = (np.asarray(v).astype(fmt.storage_dtype).view(fmt.numpy_dtype) for v in (a, b))
    with np.errstate(all="ignore"):
        r = x * y if op == "mul" else x + y
    return r.view(fmt.storage_dtype).astype(np.int64)


def assert_same(got, want, fmt, a, b, what):
    both_nan = fmt.is_nan(got) & fmt.is_nan(want)
    bad = ~both_nan & (got != want)
    if bad.any():
        i = np.flatnonzero(bad)[0]
        raise AssertionError(f"{what} {fmt}: a=0x{int(a[i]):x} b=0x{int(b[i]):x} got=0x{int(got[i]):x} "
                             f"want=0x{int(want[i]):x} ({bad.sum()} mismatches)")
    # Every NaN result is the canonical one.
    assert np.all(got[fmt.is_nan(got)] == fmt.qnan)


@pytest.mark.parametrize("fmt", FORMATS16, ids=str)
@pytest.mark.parametrize("op,func", [("mul", fmul), ("add", fadd)])
def test_million_random_pairs(fmt, op, func, rng):
    a = rng.integers(0, 1 << 16, 1_000_000)
    b = rng.integers(0, 1 << 16, 1_000_000)
    assert_same(func(a, b, fmt), reference(op, a, b, fmt), fmt, a, b, op)


@pytest.mark.parametrize("fmt", FORMATS16, ids=str)
@pytest.mark.parametrize("op,func", [("mul", fmul), ("add", fadd)])
def test_every_pair_of_special_classes(fmt, op, func):
    s = special_values(fmt)
    a, b = (np.array(x) for x in zip(*itertools.product(s, s)))
    assert_same(func(a, b, fmt), reference(op, a, b, fmt), fmt, a, b, op)


@pytest.mark.parametrize("fmt", FORMATS16, ids=str)
def test_near_ties_and_cancellation(fmt, rng):
    # Operands one exponent apart and equal up to a few ulps exercise rounding ties and cancellation.
    a = rng.integers(0, fmt.inf, 200_000)
    b = (a + rng.integers(-3, 4, a.size) + (rng.integers(0, 2, a.size) << fmt.man_bits)) % fmt.inf
    b = b | (rng.integers(0, 2, a.size) * fmt.sign_mask)
    for op, func in (("mul", fmul), ("add", fadd)):
        assert_same(func(a, b, fmt), reference(op, a, b, fmt), fmt, a, b, op)


def test_fp32_against_float32(rng):
    a = rng.integers(0, 1 << 32, 500_000)
    b = rng.integers(0, 1 << 32, 500_000)
    # Squeeze half of the exponents near each other so additions really interact.
    b[::2] = (b[::2] & 0x807FFFFF) | (a[::2] & 0x7F800000)
    for op, func in (("mul", fmul), ("add", fadd)):
        assert_same(func(a, b, FP32), reference(op, a, b, FP32), FP32, a, b, op)


@pytest.mark.parametrize("dst", FORMATS16, ids=str)
def test_convert_fp32_to_16bit(dst, rng):
    x = rng.integers(0, 1 << 32, 1_000_000)
    got = convert(x, FP32, dst)
    with np.errstate(all="ignore"):
        want = x.astype(np.uint32).view(np.float32).astype(dst.numpy_dtype).view(np.uint16).astype(np.int64)
    assert_same(got, want, dst, x, x, "convert")


@pytest.mark.parametrize("src", FORMATS16, ids=str)
def test_widening_is_exact(src):
    x = np.arange(1 << 16)
    wide = convert(x, src, FP32)
    assert np.all(convert(wide, FP32, src)[~src.is_nan(x)] == x[~src.is_nan(x)])
    f = src.to_float(x)
    ok = ~np.isnan(f)
    assert np.array_equal(FP32.to_float(wide)[ok], f[ok])


def test_mixed_precision_product_is_exact(rng):
    a, b = rng.integers(0, FP16.inf, (2, 100_000))
    got = FP32.to_float(fmul(a, b, FP16, out=FP32))
    assert np.array_equal(got, FP16.to_float(a) * FP16.to_float(b))


@pytest.mark.parametrize("fmt", FORMATS16, ids=str)
def test_fmax_rules(fmt, rng):
    a = rng.integers(0, 1 << 16, 200_000)
    b = rng.integers(0, 1 << 16, 200_000)
    got = fmax(a, b, fmt)
    fa, fb = fmt.to_float(a), fmt.to_float(b)
    nan = np.isnan(fa) | np.isnan(fb)
    assert np.all(got[nan] == fmt.qnan)
    assert np.array_equal(fmt.to_float(got[~nan]), np.maximum(fa, fb)[~nan])
    pz, nz = 0, fmt.sign_mask
    assert fmax(np.array([pz, nz]), np.array([nz, pz]), fmt).tolist() == [pz, pz]
    assert fmax(np.array([nz]), np.array([nz]), fmt).tolist() == [nz]


def test_fneg_flips_only_the_sign():
    x = np.arange(1 << 16)
    assert np.array_equal(fneg(fneg(x, FP16), FP16), x)
    assert np.array_equal(fneg(x, FP16) ^ x, np.full(x.size, FP16.sign_mask))


def test_round_pack_ties_to_even():
    # 1 + 2**-11 is halfway between 1 and 1 + 2**-10 in FP16: ties to even gives 1.
    sig = np.array([(1 << 11) + 1, (1 << 11) + 3])
    got = round_pack(np.zeros(2), sig, np.array([-11, -11]), FP16)
    assert FP16.to_float(got).tolist() == [1.0, 1.0 + 2 * 2.0 ** -10]


def test_integer_bits_required():
    with pytest.raises(TypeError, match="integer array"):
        fmul(np.array([1.0]), np.array([1.0]), FP16)


def test_format_lookup_error_names_value():
    with pytest.raises(ValueError, match="'fp8'"):
        format_by_name("fp8")
