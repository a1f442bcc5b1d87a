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


@pytest.fixture
def run_hint(capsys, tmp_path):
    """Run the ``pam waves`` command a run printed as its hint: it exits 0 and shows rows, so every signal it
    names exists (a pattern that matches nothing is an error). A --png goes to this test's folder."""
    import shlex

    from sim.cli import main

    def run(hint: str) -> None:
        argv = shlex.split(hint)
        assert argv[0] == "pam", hint
        if "--png" in argv:
            argv[argv.index("--png") + 1] = str(tmp_path / "hint.png")
        capsys.readouterr()
        assert main(argv[1:]) == 0, capsys.readouterr().err
        assert len(capsys.readouterr().out.splitlines()) > 3
    return run
