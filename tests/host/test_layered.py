"""Layered (L-PIM) baseline placement."""

import numpy as np
import pytest

from golden.placement import TierShape
from host.layered import layered_placement

TIERS = (TierShape("hbm", 1, 2, 2), TierShape("ddr", 2, 2, 1), TierShape("ssd", 1, 1, 2))


def test_newest_tokens_fill_fastest_tier_first():
    pl = layered_placement(TIERS, (3, 5, 100), 50)
    tier = pl.coords[:, 0]
    assert (tier == 0).sum() == 12 and (tier == 1).sum() == 20 and (tier == 2).sum() == 18
    assert tier[-12:].tolist() == [0] * 12 and tier[:18].tolist() == [2] * 18
    # Every token lives in exactly one bank, banks balanced within a tier.
    parts = pl.partitions()
    assert sorted(np.concatenate(parts).tolist()) == list(range(50))
    assert [len(p) for p in parts[:4]] == [3, 3, 3, 3] and [len(p) for p in parts[4:8]] == [5] * 4


def test_capacity_is_a_hard_limit():
    with pytest.raises(ValueError, match=r"KV set of 51 tokens exceeds the capacity of all tiers \(50 tokens"):
        layered_placement(TIERS, (3, 5, 9), 51)


def test_argument_errors():
    with pytest.raises(ValueError, match="3 tiers"):
        layered_placement(TIERS, (3, 5), 5)
    with pytest.raises(ValueError, match="tier 'ddr': tokens_per_bank must be >= 0, not -1"):
        layered_placement(TIERS, (3, -1, 5), 5)
