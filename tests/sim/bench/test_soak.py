"""The scheduler soak (sim/bench/soak.py): clean on the real host code, red on a host that loses track."""

import pytest

import host.driver
from sim.bench.soak import soak_scheduler

STEPS = 4000


def test_the_soak_runs_clean_and_moves_tokens_every_way(seed):
    run = soak_scheduler(STEPS, seed=seed)
    print(f"seed {seed}: {run.moves} moves {run.moves_by_route}, {run.checked_payloads} digests, {run.audits} audits")
    assert run.violations == 0, run.first_violations
    assert run.steps == STEPS and run.requests >= STEPS // 192
    assert run.moves > STEPS // 4 and {"SSD>DDR", "DDR>SSD", "HBM>DDR", "DDR>HBM"} <= set(run.moves_by_route)
    assert run.checked_payloads > STEPS and run.audits >= run.requests - 4


def test_a_migration_that_swaps_two_payloads_is_caught(seed, monkeypatch):
    real = host.driver.apply_migration

    def swapping(store, transfers, plans):
        moved = real(store, transfers, plans)
        if len(transfers) >= 2:                      # the first two destinations get each other's payload
            a, b = transfers[0].dst, transfers[1].dst
            store[a], store[b] = store[b], store[a]
        return moved
    monkeypatch.setattr(host.driver, "apply_migration", swapping)
    run = soak_scheduler(500, seed=seed)
    assert run.violations > 0 and "wrong payload" in run.first_violations[0][2]


def test_a_host_whose_tier_books_disagree_is_caught(seed, monkeypatch):
    """New tokens placed in the mapper of the tier after the one the scheduler chose."""
    def misplacing(self, token, payload):
        tier = (self.scheduler.add(token, 0.0) + 1) % 3
        self.payloads[self.mappers[tier].place(host.driver.REQUEST, token)] = payload
    monkeypatch.setattr(host.driver.HostDriver, "_admit", misplacing)
    run = soak_scheduler(50, audit_every=16, seed=seed)
    assert run.violations > 0
    assert "is not placed on this device" in run.first_violations[0][2]


def test_the_soak_refuses_a_request_its_tiers_cannot_hold():
    with pytest.raises(ValueError, match="prompt \\+ decode: 400 tokens; a request's tiers hold 352"):
        soak_scheduler(10, decode=336)
