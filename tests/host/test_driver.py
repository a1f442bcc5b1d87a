"""The host driver over a locality trace: every token in one place, payloads intact, capacities held."""

import json

import numpy as np
import pytest

from host.driver import REQUEST, HostDriver
from host.mapping import DeviceShape
from sim.cli import main
from golden.traces.locality import generate_locality_trace
from golden.traces.format import generate_trace, write_trace


def shapes(rows=(4, 16, 64)):
    return [DeviceShape(tier, 0, 1, 2, 4, r, 8, 4) for tier, r in enumerate(rows)]


@pytest.mark.parametrize("source", ["oracle", "double_sparsity", "h2o", "quest"])
def test_driver_keeps_every_invariant(source, seed):
    trace = generate_locality_trace(prompt=300, steps=15, q_heads=4, kv_heads=2, head_dim=64, seed=seed)
    driver = HostDriver(shapes(), 8.0, 3.0, source=source, max_moves=16)
    reports = driver.run(trace)
    assert len(reports) == 15 and reports[-1].context == 315
    assert_driver_invariants(driver, trace, 315)
    assert sum(r.moves for r in reports) > 0


def assert_driver_invariants(driver, trace, context):
    placed = driver.scheduler.tokens()
    assert sorted(placed) == list(range(context))                 # every live token in exactly one tier
    assert all(c <= cap for c, cap in zip(driver.scheduler.counts(), driver.scheduler.capacities))
    for token, tier in placed.items():                            # the tier's mapper holds it, with its payload
        address = driver.mappers[tier].address(REQUEST, token)
        assert driver.payloads[address] == trace.k[token].tobytes() + trace.v[token].tobytes()
        for other in range(3):
            if other != tier:
                with pytest.raises(ValueError, match="is not placed"):
                    driver.mappers[other].address(REQUEST, token)
    assert len(driver.payloads) == context


@pytest.mark.parametrize("locality, source", [(True, "double_sparsity"), (False, "oracle")])
def test_driver_soak(locality, source, seed):
    """400 decode steps: invariants every 50 steps, payloads checksummed on every move. The control trace
    (no locality) makes the scheduler move tokens every step."""
    trace = generate_locality_trace(prompt=500, steps=400, q_heads=2, kv_heads=1, head_dim=64, seed=seed,
                                    locality=locality)
    driver = HostDriver(shapes(rows=(4, 16, 64)), 8.0, 3.0, source=source, max_moves=16)
    driver.begin(trace)
    moved = 0
    for step in range(trace.steps):
        moved += driver.decode_step(step).moves
        if step % 50 == 49:
            assert_driver_invariants(driver, trace, trace.context(step))
    print(f"soak ({source}, locality {locality}): 500-token prompt, 400 steps, {moved} tokens moved, "
          f"tiers {driver.scheduler.counts()}")
    assert moved > 500 and driver.scheduler.counts()[2] > 0


def test_a_token_that_moves_twice_in_one_step_migrates_once(seed):
    """Loop 1 can lift a token SSD -> DDR and loop 2 then DDR -> HBM in the same step: one migration,
    SSD to HBM (the device shapes of the RTL system top, whose small tiers make such chains common)."""
    shapes = [DeviceShape(0, 0, 1, 1, 2, 16, 32, 16), DeviceShape(1, 0, 1, 2, 1, 4, 128, 16),
              DeviceShape(2, 0, 1, 1, 2, 2, 512, 16)]
    trace = generate_locality_trace(prompt=150, steps=6, q_heads=2, kv_heads=1, head_dim=32, seed=1)
    driver = HostDriver(shapes, 8.0, 3.0, sparsity=0.1, max_moves=8)
    driver.begin(trace)
    chains = 0
    for step in range(6):
        driver.admit(step)
        before = dict(driver.scheduler.tokens())
        report = driver.rebalance(step)
        after = driver.scheduler.tokens()
        moved = [t for t in after if before[t] != after[t]]
        chains += sum(1 for t in moved if abs(before[t] - after[t]) == 2)
        assert report.moves == len(moved)
        for tier in range(3):                                     # the mappers agree with the scheduler
            held = sorted(t for bank in driver.bank_tokens(tier) for t in bank)
            assert held == sorted(t for t, where in after.items() if where == tier)
    assert chains > 0, "no token went SSD -> HBM in one step: the case is not exercised"


def test_driver_refuses_bad_input():
    with pytest.raises(ValueError, match="unknown score source 'magic'"):
        HostDriver(shapes(), 8.0, 3.0, source="magic")
    with pytest.raises(ValueError, match="needs a v2 trace"):
        HostDriver(shapes(), 8.0, 3.0).run(generate_trace(tokens=10, head_dim=64))
    trace = generate_locality_trace(prompt=600, steps=2, head_dim=64, seed=1)
    with pytest.raises(ValueError, match="does not fit: every tier is full"):
        HostDriver(shapes(rows=(1, 1, 1)), 8.0, 3.0).run(trace)


def test_cli_schedule_reports_steps_routes_and_time(tmp_path, capsys):
    path = tmp_path / "loc.npz"
    write_trace(path, generate_locality_trace(prompt=400, steps=8, head_dim=128, seed=2))
    assert main(["schedule", "--trace", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    summary = data["summary"]
    assert summary["steps"] == 8 and len(data["steps"]) == 8
    assert 0 <= summary["moved_per_step_pct"] < 5
    assert np.all(np.array([s["tokens_per_tier"] for s in data["steps"]]).sum(1) == np.arange(401, 409))
    assert sum(summary["moves_by_route"].values()) == summary["moves"]
    assert all(sum(s["moves_by_route"].values()) == s["moves"] for s in data["steps"])
    assert all(s["scheduler_time_s"] > 0 for s in data["steps"])


def test_locality_moves_fewer_tokens_than_its_control(seed):
    """The point of context locality: persistent heavy hitters stay put, so the scheduler moves less."""
    moved = {}
    for locality in (True, False):
        trace = generate_locality_trace(prompt=800, steps=15, head_dim=128, seed=seed, locality=locality)
        moved[locality] = sum(r.moves for r in HostDriver(shapes(), 8.0, 3.0).run(trace))
    print(f"moves over 15 steps: locality {moved[True]}, control {moved[False]}")
    assert moved[True] * 3 < moved[False]
