"""PAM's partition/merge algebra in float64: any partition count, empty partitions, any tree."""

import numpy as np
import pytest

from golden.pamattention import (check_tree, identity_f64, merge_f64, pam_attention_f64, partial_f64,
                                 reduce_tree)
from golden.placement import Placement, TierShape
from golden.reference import decode_attention


def random_tree(leaves, rng):
    """A random tree over ``leaves``: random groupings, random fan-out, random depth."""
    nodes = list(leaves)
    rng.shuffle(nodes)
    while len(nodes) > 1:
        take = int(rng.integers(2, min(len(nodes), 5) + 1))
        start = int(rng.integers(0, len(nodes) - take + 1))
        nodes[start:start + take] = [tuple(nodes[start:start + take])]
    return nodes[0] if isinstance(nodes[0], tuple) else (nodes[0],)


def lopsided_tree(n):
    """((((0, 1), 2), 3), …): a chain, the deepest tree."""
    tree = (0,)
    for i in range(1, n):
        tree = (tree, i)
    return tree


def case(rng, tokens=300, q_heads=6, kv_heads=3, d=32):
    return (rng.standard_normal((q_heads, d)) * 2, rng.standard_normal((tokens, kv_heads, d)),
            rng.standard_normal((tokens, kv_heads, d)))


def rel_err(out, ref):
    return np.abs(out - ref).max() / np.abs(ref).max()


@pytest.mark.parametrize("parts", [1, 2, 3, 5, 17, 133])
@pytest.mark.parametrize("shape", ["flat", "lopsided", "random"])
def test_equals_reference(parts, shape, rng):
    q, k, v = case(rng)
    ref = decode_attention(q, k, v)
    # Random split points, some repeated: empty partitions included.
    cuts = np.sort(rng.integers(0, len(k) + 1, parts - 1))
    perm = rng.permutation(len(k))
    partitions = np.split(perm, cuts)
    tree = {"flat": None, "lopsided": lopsided_tree(parts), "random": random_tree(range(parts), rng)}[shape]
    assert rel_err(pam_attention_f64(q, k, v, partitions, tree), ref) < 1e-12


def test_mostly_empty_partitions(rng):
    q, k, v = case(rng, tokens=3)
    partitions = [np.array([], int)] * 10 + [np.array([2])] + [np.array([], int)] * 5 + [np.array([0, 1])]
    assert rel_err(pam_attention_f64(q, k, v, partitions, random_tree(range(17), rng)),
                   decode_attention(q, k, v)) < 1e-12


def test_identity_is_neutral_and_all_identity_stays_identity(rng):
    q, k, v = case(rng, tokens=10)
    p = partial_f64(q, k, v)
    e = identity_f64(*q.shape)
    for merged in (merge_f64([e, p]), merge_f64([p, e, e])):
        assert np.array_equal(merged.m, p.m) and np.allclose(merged.l, p.l) and np.allclose(merged.o, p.o)
    both = merge_f64([e, e])
    assert np.all(both.m == -np.inf) and not np.isnan(both.l).any() and np.all(both.l == 0)


def test_no_tokens_anywhere_is_an_error(rng):
    q, k, v = case(rng, tokens=4)
    with pytest.raises(ValueError, match="0 tokens"):
        pam_attention_f64(q, k, v, [np.array([], int)] * 3)


@pytest.mark.parametrize("tree,match", [((0, 1), "missing \\[2\\]"), ((0, 1, 2, 2), "repeated"),
                                        ((0, (), 1, 2), "non-empty"), ((0, 1, 7), "out of range")])
def test_bad_trees(tree, match):
    with pytest.raises(ValueError, match=match):
        check_tree(tree, 3)


def test_reduce_tree_visits_children_in_order():
    calls = []
    reduce_tree((0, (1, 2)), ["a", "b", "c"], lambda parts: calls.append(list(parts)) or "+".join(parts))
    assert calls == [["b", "c"], ["a", "b+c"]]


def test_placement_partitions_and_pam_tree(rng):
    tiers = (TierShape("hbm", 2, 2, 2), TierShape("ddr", 1, 2, 1))
    coords = np.array([[0, 1, 0, 1], [1, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 1]])
    pl = Placement(tiers, coords)
    parts = pl.partitions()
    assert len(parts) == 10
    assert [p.tolist() for p in parts if len(p)] == [[2], [0, 3], [1]]
    assert parts[5].tolist() == [0, 3] and parts[9].tolist() == [1]
    assert pl.tree() == (((0, 1), (2, 3)), ((4, 5), (6, 7)), ((8,), (9,)))
    q, k, v = case(rng, tokens=4)
    assert rel_err(pam_attention_f64(q, k, v, parts, pl.tree()), decode_attention(q, k, v)) < 1e-12


@pytest.mark.parametrize("coords,match", [([[2, 0, 0, 0]], "tier 2 out of range"),
                                          ([[0, 0, 2, 0]], "bank_group 2 out of range"),
                                          ([[1, 0, 0, 1]], "bank 1 out of range 0..0 in tier 'ddr'")])
def test_placement_rejects_out_of_range(coords, match):
    with pytest.raises(ValueError, match=match):
        Placement((TierShape("hbm", 1, 2, 2), TierShape("ddr", 1, 2, 1)), np.array(coords))


def test_tier_shape_rejects_zero():
    with pytest.raises(ValueError, match="banks must be a positive integer, not 0"):
        TierShape("hbm", 1, 1, 0)
