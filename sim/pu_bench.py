"""Run a PU on a bank under Verilator and check it: partials bit-exact, cycles and utilisation measured."""

from __future__ import annotations

import dataclasses

import numpy as np

from golden.formats import FP32
from golden.hwmodel import HwConfig, bank_partial, block_tokens_for, prescale_query
from hw.tierconfig import load_tier
from sim.bank_stream import BankStreamer
from sim.pu_bank import PUBank
from sim.pu_stream import kv_columns
from sim.runner import build_design, run_bench
from sim.trace import KVTrace

__all__ = ["PURun", "run_pu_on_bank"]


@dataclasses.dataclass(frozen=True)
class PURun:
    tier: str
    format: str
    head_dim: int
    group: int
    tokens: int
    block_tokens: int
    cycles: int
    stream_cycles: int
    read_bus_cycles: int
    utilisation: float            # read-bus busy / stream cycles
    timing_limit: float           # the same stream from the bank alone (BankStreamer run), busy / cycles
    fraction_of_limit: float
    cycles_per_token: float
    bit_exact: bool
    sim_cycles_per_s: float
    mismatch: str | None
    vcd: str | None = None


def run_pu_on_bank(trace: KVTrace, kv_head: int = 0, step: int = 0, tier_name: str = "hbm3",
                   max_group: int | None = None, rows: int = 512, waves: bool = False,
                   tokens: int | None = None, token_ids=None, seed: int | None = None,
                   reset_at: int = 0, quick_compile: bool = False, sharers: int = 1,
                   bank_alone: bool = True) -> PURun:
    """Place one kv head's tokens of ``trace`` in a bank, run the PU for its query group, compare with golden.

    ``tokens`` limits the bank to the first ``tokens`` tokens of the step's context (0: the identity);
    ``token_ids`` instead gives the bank's tokens explicitly, in bank order (a placement's partition).
    ``seed`` turns on random query idle cycles and partial back-pressure; ``reset_at`` resets the design that
    many cycles into a first run, then runs again (``sim/tb_pu.py``). ``quick_compile`` builds without C++
    optimisation (``sim.runner.build_design``): minutes less per build, a slower simulation. ``sharers``: flash
    tiers only, the dies sharing the die's channel (it gets 1/sharers of the channel's bandwidth).
    ``bank_alone=False`` skips the bank-alone reference run (``timing_limit`` and ``fraction_of_limit`` are 0).
    """
    tier = load_tier(tier_name)
    fmt = trace.fmt
    group = trace.group
    max_group = max_group or group
    block = block_tokens_for(tier.buffer_bytes, FP32, max_group)
    if token_ids is None:
        n = trace.context(step) if tokens is None else tokens
        if not 0 <= n <= trace.context(step):
            raise ValueError(f"tokens must be in 0..{trace.context(step)}, not {n}")
        token_ids = np.arange(n)
    token_ids = np.asarray(token_ids, np.int64)
    if len(token_ids) and (token_ids.min() < 0 or token_ids.max() >= trace.context(step)):
        raise ValueError(f"token_ids must lie in the step's context 0..{trace.context(step) - 1}")
    n = len(token_ids)
    heads = slice(kv_head * group, (kv_head + 1) * group)
    q = prescale_query(trace.q[step, heads], fmt)                                   # [G, d]
    k, v = trace.k[token_ids, kv_head].astype(np.int64), trace.v[token_ids, kv_head].astype(np.int64)
    columns = np.array(kv_columns(k, v, tier.lanes, block), np.int64).reshape(-1, tier.lanes)
    need_rows = -(-len(columns) // tier.geometry.columns_per_row) + 1
    tier = tier.with_rows(max(rows, need_rows))
    build = build_design(PUBank(tier, fmt, FP32, trace.head_dim, max_group, block, sharers),
                         f"pu_bank_{tier.name}_{fmt.name}_d{trace.head_dim}_g{max_group}"
                         + (f"_s{sharers}" if tier.is_flash else ""), waves=waves, clock_ns=2,
                         quick_compile=quick_compile)
    job = build.build_dir / f"job_{n}_{group}.npz"
    np.savez(job, q=q, columns=columns, tokens=n, lanes=tier.lanes)
    env = {"PAM_PU_JOB": job, "PAM_PU_RESET_AT": reset_at, "PAM_PU_SEED": "" if seed is None else seed}
    report = run_bench(build, "sim.tb_pu", env, results_name=f"pu_{n}_{group}", waves=waves)
    want = bank_partial(q, k, v, HwConfig(fmt, FP32, tier.lanes, block))
    mismatch = None
    for g, part in enumerate(report["partials"]):
        got = (part["m"], part["l"], part["o"])
        exp = (int(want.m[g]), int(want.l[g]), [int(x) for x in want.o[g]])
        if got != exp:
            bad = [i for i, (a, b) in enumerate(zip(got[2], exp[2])) if a != b][:4]
            mismatch = (f"head {g}: m 0x{got[0]:08x} vs 0x{exp[0]:08x}, l 0x{got[1]:08x} vs 0x{exp[1]:08x}, "
                        f"O differs at {bad}")
            break
    limit = _bank_alone(tier, len(columns)) if len(columns) and bank_alone else 0.0
    util = report["read_bus_cycles"] / report["stream_cycles"] if report["stream_cycles"] else 0.0
    vcd = str(build.build_dir / "dump.vcd") if waves else None
    return PURun(tier.name, fmt.name, trace.head_dim, group, n, block, report["cycles"], report["stream_cycles"],
                 report["read_bus_cycles"], util, limit, util / limit if limit else 0.0,
                 report["cycles"] / max(n, 1), mismatch is None, report["sim_cycles_per_s"], mismatch, vcd)


def _bank_alone(tier, reads: int) -> float:
    """Read-bus utilisation of the same column stream from the bank with no PU (measured, not assumed)."""
    build = build_design(BankStreamer(tier), f"bank_stream_{tier.name}_r{tier.geometry.rows}", clock_ns=2)
    capacity = tier.geometry.rows * tier.geometry.columns_per_row
    report = run_bench(build, "sim.tb_bank", {"PAM_BANK_LOAD": 0, "PAM_BANK_CAPACITY": capacity,
                                               "PAM_BANK_READS": reads, "PAM_BANK_SEED": 0},
                       results_name=f"alone_{reads}")
    return report["read_bus_cycles"] / report["cycles"]
