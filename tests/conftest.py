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


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``--dist loadgroup``) the Verilator tests of one file run on one worker, so the builds
    they share are made once and no worker waits on another's build; every other test goes wherever a worker
    is free."""
    for item in items:
        if item.get_closest_marker("verilator"):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
