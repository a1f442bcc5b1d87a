"""The command fuzz of the system top (sim/bench/fuzz.py): a short run clean, and each of its checks red on a
fault. The build is the end-to-end tests' (sim.runs.system.QUICK_DEVICES, fp16, head_dim 32, G = 2)."""

import pytest

import sim.bench.fuzz as fuzz
from hw.device import Op, Status
from sim.bench.fuzz import CommandModel, fuzz_system
from sim.runs.system import QUICK_DEVICES, SystemSpec

SHORT = dict(commands=4000, steps=6, resets=2)


@pytest.mark.verilator
def test_a_short_fuzz_run_finds_no_violation(seed):
    run = fuzz_system(**SHORT, seed=seed)
    print(f"seed {seed}: {run.commands} commands, rejected {run.rejected}, resumed at {run.resumes}")
    assert run.violations == 0, (run.status_violations, run.output_mismatch)
    assert run.decode_steps == 12 and run.outputs == 12 * fuzz.GROUP
    assert run.resets == 2 and run.commands >= 4000 and run.unplayed == 0
    assert all(run.random_commands[k] > 0 for k in fuzz.KINDS)
    invalid = sum(run.random_commands[k] for k in fuzz.INVALID)
    assert sum(run.rejected.values()) >= invalid and set(run.rejected) == {s.name for s in Status if s != Status.OK}


@pytest.mark.verilator
def test_a_stray_write_into_a_live_region_is_caught_by_the_scoreboard(seed, monkeypatch):
    """The noise writes aimed into request A's region under A itself: accepted, as they should be, so only the
    outputs can show it; the first step after one differs."""
    real = fuzz._random_command

    def stray(rng, kind, spec, regions, busy, noise):
        cmd = real(rng, kind, spec, regions, busy, noise)
        if kind == "write_noise":
            lo, hi = regions[cmd["dev"]][fuzz.A]
            cmd |= {"req": fuzz.A, "addr": int(rng.integers(lo, hi))}
        return cmd
    monkeypatch.setattr(fuzz, "_random_command", stray)
    run = fuzz_system(commands=2500, steps=4, resets=0, seed=seed)
    assert run.output_mismatch is not None and run.unplayed > 0, f"seed {seed}"
    assert run.status_violation_count == 0                      # every status played was right
    print(run.output_mismatch)


@pytest.mark.verilator
def test_a_model_without_the_bank_limit_disagrees_with_the_top(seed, monkeypatch):
    """Once the job is generated, the model takes a region beyond the bank: the top's BAD_REGION for each
    such SET_REGION is then a violation."""
    real_run, real_status, played = fuzz.run_system, CommandModel.status, []

    def run(*args, **kwargs):
        played.append(True)
        return real_run(*args, **kwargs)

    def lax(self, cmd):
        code = real_status(self, cmd)
        if played and code == Status.BAD_REGION and cmd["addr"] <= cmd["limit"]:
            self.regions[cmd.get("dev", 0)][cmd.get("req", 0)] = (cmd["addr"], cmd["limit"])
            return Status.OK
        return code
    monkeypatch.setattr(fuzz, "run_system", run)
    monkeypatch.setattr(CommandModel, "status", lax)
    run = fuzz_system(**SHORT, seed=seed)
    assert run.status_violation_count > 0, f"seed {seed}"
    _, kind, got, want = run.status_violations[0]
    assert kind == "region_bad" and got == (Op.SET_REGION, Status.BAD_REGION) and want == (Op.SET_REGION, Status.OK)


def test_the_command_model_follows_the_device_checks():
    spec = SystemSpec(QUICK_DEVICES, "fp16", 32, 2, requests=4)
    model = CommandModel(spec)
    capacity = 32 * 32                                          # the HBM device: 32 rows of 32 columns
    assert model.status({"op": Op.SET_REGION, "dev": 0, "req": 1, "addr": 16, "limit": capacity + 1}) == Status.BAD_REGION
    assert model.status({"op": Op.SET_REGION, "dev": 0, "req": 1, "addr": 16, "limit": 48}) == Status.OK
    assert model.status({"op": Op.WRITE_KV, "dev": 0, "req": 1, "addr": 47}) == Status.OK
    assert model.status({"op": Op.WRITE_KV, "dev": 0, "req": 1, "addr": 48}) == Status.OUT_OF_REGION
    assert model.status({"op": Op.WRITE_KV, "dev": 0, "req": 0, "addr": 20}) == Status.OUT_OF_REGION
    assert model.status({"op": Op.WRITE_KV, "dev": 0, "req": 1, "addr": 20, "bank": 2}) == Status.OUT_OF_DEVICE
    assert model.status({"op": Op.RUN, "dev": 0, "req": 1, "group": 2, "counts": [2, 0]}) == Status.OK   # 16 + 32
    assert model.status({"op": Op.RUN, "dev": 0, "req": 1, "group": 2, "counts": [0, 3]}) == Status.OUT_OF_REGION
    assert model.status({"op": Op.RUN, "dev": 0, "req": 1, "group": 3, "counts": [1]}) == Status.OUT_OF_DEVICE
    assert model.status({"op": Op.LOAD_Q, "dev": 2, "addr": 2}) == Status.OUT_OF_DEVICE
    assert model.status({"op": 7, "dev": 1}) == Status.BAD_OP
    assert model.status({"op": Op.RUN, "dev": 3}) == Status.OUT_OF_DEVICE
    assert model.status({"op": 5, "group": 0}) == Status.OUT_OF_DEVICE
    model.clear()
    assert model.status({"op": Op.WRITE_KV, "dev": 0, "req": 1, "addr": 20}) == Status.OUT_OF_REGION
