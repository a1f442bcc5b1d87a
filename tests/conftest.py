import os

import numpy as np
import pytest


@pytest.fixture
def seed(request):
    """A seed for random tests: PAM_SEED if set, else a fixed one; printed so a failure can be replayed."""
    value = int(os.environ.get("PAM_SEED", "20261122"))
    print(f"\n[{request.node.name}] seed={value} (set PAM_SEED to replay)")
    return value


@pytest.fixture
def rng(seed):
    return np.random.default_rng(seed)
