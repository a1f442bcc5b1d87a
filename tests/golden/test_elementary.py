"""exp2 and reciprocal: exhaustive error over all 65,536 inputs, special values, tables."""

import numpy as np
import pytest

from golden.accuracy import unit_error
from golden.elementary import elementary_params, exp2, exp2_table, reciprocal, reciprocal_table
from golden.formats import BF16, FP16
from golden.fpops import order_key

# Stated in docs/numerics.md; measured exhaustively by `pam golden --units`.
STATED_MAX_ULP = {("exp2", "fp16"): 0.59, ("exp2", "bf16"): 0.57,
                  ("reciprocal", "fp16"): 0.72, ("reciprocal", "bf16"): 0.60}


@pytest.mark.parametrize("fmt", [FP16, BF16], ids=str)
@pytest.mark.parametrize("unit", ["exp2", "reciprocal"])
def test_exhaustive_error_within_stated_bound(unit, fmt):
    r = unit_error(unit, fmt)
    assert r["inputs"] == 65536
    assert r["special_mismatches"] == 0
    assert r["max_ulp"] <= STATED_MAX_ULP[unit, fmt.name], r
    assert r["correctly_rounded"] > 0.9


@pytest.mark.parametrize("fmt", [FP16, BF16], ids=str)
def test_exp2_exact_points_and_specials(fmt):
    x = fmt.from_float([0.0, -0.0, 1.0, -1.0, 3.0, -8.0, np.inf, -np.inf, np.nan]).astype(np.int64)
    got = fmt.to_float(exp2(x, fmt))
    assert got[:7].tolist() == [1.0, 1.0, 2.0, 0.5, 8.0, 2.0 ** -8, np.inf]
    assert got[7] == 0.0 and np.isnan(got[8])


@pytest.mark.parametrize("fmt", [FP16, BF16], ids=str)
def test_exp2_is_monotonic(fmt):
    x = np.arange(1 << 16)
    x = x[~fmt.is_nan(x)]
    x = x[np.argsort(order_key(x, fmt), kind="stable")]
    y = fmt.to_float(exp2(x, fmt))
    assert np.all(y[1:] >= y[:-1])  # inf >= inf holds; np.diff would give inf - inf = NaN


@pytest.mark.parametrize("fmt", [FP16, BF16], ids=str)
def test_reciprocal_specials_and_powers_of_two(fmt):
    x = fmt.from_float([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -4.0, 0.25]).astype(np.int64)
    got = fmt.to_float(reciprocal(x, fmt))
    assert got[0] == np.inf and got[1] == -np.inf
    assert got[2] == 0.0 and not np.signbit(got[2]) and got[3] == 0.0 and np.signbit(got[3])
    assert np.isnan(got[4])
    assert got[5:].tolist() == [1.0, -0.25, 4.0]


@pytest.mark.parametrize("fmt", [FP16, BF16], ids=str)
def test_tables_are_sized_from_the_format(fmt):
    prm = elementary_params(fmt)
    e, r = exp2_table(fmt), reciprocal_table(fmt)
    assert len(e) == len(r) == prm.entries == (1 << prm.table_bits) + 1
    assert e[0] == 1 << prm.table_frac and e[-1] == 2 << prm.table_frac
    assert r[0] == 1 << prm.table_frac and r[-1] == 1 << (prm.table_frac - 1)
    assert all(a < b for a, b in zip(e, e[1:])) and all(a > b for a, b in zip(r, r[1:]))
