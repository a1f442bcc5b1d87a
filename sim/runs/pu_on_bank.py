"""Run a PU on a bank under Verilator and check it: partials bit-exact, cycles and utilisation measured."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from golden.formats import FP32
from golden.hwmodel import HwConfig, bank_partial, block_tokens_for, prescale_query
from hw.bank import check_dram_tier
from hw.tierconfig import load_tier
from sim.testbench.bank_streamer import BANK_PORTS, BankStreamer
from sim.testbench.pu_bank import PU_BANK_PORTS, PUBank
from hw.kvlayout import kv_columns, lanes_word
from sim.testbench.base import RANDOM_PAUSES, Pauses, Testbench
from sim.verilator.build import build_design
from sim.verilator.separate import silence_unused
from golden.traces.format import KVTrace

__all__ = ["PURun", "run_pu_on_bank", "stream_bank", "bank_build"]


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
    timing_limit: float           # the same writes and stream from the bank alone (BankStreamer run), busy / cycles
    fraction_of_limit: float
    cycles_per_token: float
    bit_exact: bool
    sim_cycles_per_s: float
    mismatch: str | None
    wave_file: str | None = None  # the traced run's VCD or FST
    trace_of_run: tuple = ()      # (harness cycles, output cycles, partials, counters): equal runs are equal
    sim_wall_s: float = 0.0
    build: object = None          # the SimBuild it ran on


def run_pu_on_bank(trace: KVTrace, kv_head: int = 0, step: int = 0, tier_name: str = "hbm3",
                   max_group: int | None = None, rows: int = 512, waves: str | None = None, wave_depth: int = 2,
                   tokens: int | None = None, token_ids=None, seed: int | None = None,
                   reset_at: int = 0, sharers: int = 1, bank_alone: bool = True, raw: bool = False,
                   pauses: Pauses = RANDOM_PAUSES) -> PURun:
    """Place one kv head's tokens of ``trace`` in a bank, run the PU for its query group, compare with golden.

    ``tokens`` limits the bank to the first ``tokens`` tokens of the step's context (0: the identity);
    ``token_ids`` instead gives the bank's tokens explicitly, in bank order (a placement's partition).
    ``seed`` turns on the ``pauses``: idle cycles between commands, partial back-pressure; ``reset_at`` resets the
    design that many cycles into the job (the bank keeps its contents), then plays the job again
    (``sim/testbench/harness.py``). ``sharers``: flash
    tiers only, the dies sharing the die's channel (it gets 1/sharers of the channel's bandwidth).
    ``bank_alone=False`` skips the bank-alone reference run (``timing_limit`` and ``fraction_of_limit`` are 0).
    ``raw`` plays the job under the plain C++ main instead of cocotb (``sim.verilator.build.run_job``).
    ``waves`` (``vcd`` or ``fst``) traces the design ``wave_depth`` levels down: 2 is the PU-on-bank top, the
    bank's and the PU's own signals, not their units' insides.
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
    unit = functools.partial(PUBank, tier, fmt, FP32, trace.head_dim, max_group, block, sharers)
    name = f"pu_bank_{tier.name}_{fmt.name}_d{trace.head_dim}_g{max_group}" + (f"_s{sharers}" if tier.is_flash else "")
    build = build_design(unit, name, key=f"{tier!r}|{fmt.name}|{trace.head_dim}|{max_group}|{block}|{sharers}",
                         harness=PU_BANK_PORTS, waves=waves, wave_depth=wave_depth if waves else None)
    pu_bank = _pu_bank_commands(tier, fmt, trace.head_dim, max_group, block, sharers)
    words = [pu_bank.write(a, lanes_word(col, fmt)) for a, col in enumerate(columns)]
    words.append(pu_bank.start(n, group))
    words += [pu_bank.query(lanes_word(q[g, c * tier.lanes:(c + 1) * tier.lanes], fmt))
              for g in range(group) for c in range(trace.head_dim // tier.lanes)]
    want = bank_partial(q, k, v, HwConfig(fmt, FP32, tier.lanes, block))
    expected = [_partial_word(int(want.m[g]), int(want.l[g]), [int(x) for x in want.o[g]]) for g in range(group)]
    played = Testbench(build, functools.partial(_describe_partial, trace.head_dim)).play(
        words, outputs=group, expected=expected, pauses=pauses if seed is not None else Pauses(), seed=seed,
        resets=(reset_at,) if reset_at else (), raw=raw, tag=f"pu_{n}_{group}")
    log, wall, mismatch = played.log, played.wall_s, played.mismatch
    if mismatch is None and (log.timed_out or len(log.outputs) != group):
        raise AssertionError(f"PU on its bank: {len(log.outputs)} of {group} partials after {log.cycles} cycles")
    report = {**log.counters, "partials": [_partial(w, trace.head_dim) for _, w in log.outputs],
              "output_cycles": [c for c, _ in log.outputs], "harness_cycles": log.cycles}
    report["sim_cycles_per_s"] = log.cycles / max(wall, 1e-9)
    report["sim_wall_s"] = wall
    limit = _bank_alone(tier, [lanes_word(col, fmt) for col in columns]) if len(columns) and bank_alone else 0.0
    util = report["read_bus_cycles"] / report["stream_cycles"] if report["stream_cycles"] else 0.0
    return PURun(tier.name, fmt.name, trace.head_dim, group, n, block, report["cycles"], report["stream_cycles"],
                 report["read_bus_cycles"], util, limit, util / limit if limit else 0.0,
                 report["cycles"] / max(n, 1), mismatch is None, report["sim_cycles_per_s"], mismatch,
                 None if build.wave_file is None else str(build.wave_file),
                 (report["harness_cycles"], tuple(report["output_cycles"]), repr(report["partials"]),
                  tuple(sorted(log.counters.items()))), report["sim_wall_s"], build)


@functools.cache
def _pu_bank_commands(tier, fmt, head_dim, max_group, block, sharers) -> PUBank:
    """A PUBank of that configuration, for its command packing (built once per process, never elaborated)."""
    pu_bank = PUBank(tier, fmt, FP32, head_dim, max_group, block, sharers)
    silence_unused(pu_bank)
    return pu_bank


def _partial(word: int, head_dim: int, acc_bits: int = 32) -> dict:
    mask = (1 << acc_bits) - 1
    o = [(word >> (2 * acc_bits + i * acc_bits)) & mask for i in range(head_dim)]
    return {"m": word & mask, "l": (word >> acc_bits) & mask, "o": o}


def _partial_word(m: int, l: int, o: list[int], acc_bits: int = 32) -> int:
    """The PU's output word of a partial (m, l, O): the inverse of ``_partial``."""
    word = m | l << acc_bits
    for i, x in enumerate(o):
        word |= x << (2 + i) * acc_bits
    return word


def _describe_partial(head_dim: int, index: int, got: int, expected: int) -> str:
    a, b = _partial(got, head_dim), _partial(expected, head_dim)
    bad = [i for i, (x, y) in enumerate(zip(a["o"], b["o"])) if x != y]
    return (f"query head {index}: m 0x{a['m']:08x} vs 0x{b['m']:08x}, l 0x{a['l']:08x} vs 0x{b['l']:08x}, "
            f"O differs at {len(bad)} lanes {bad[:4]}")


def _bank_alone(tier, words: list[int]) -> float:
    """Read-bus utilisation of the same column stream from the bank with no PU (measured, not assumed).

    The bank gets the same writes first, so its refresh timer stands where it stood for the PU's run: a
    refresh (tRFC, 455 cycles on HBM3) that falls inside one run and not the other would be charged to the PU."""
    counters = stream_bank(tier, words, len(words)).counters
    return counters["read_bus_cycles"] / counters["cycles"]


def bank_build(tier, waves: str | None = None, wave_depth: int = 2):
    """The Verilator build of a lone bank with its read sequencer (``BankStreamer``), cached; ``waves``: None,
    ``vcd`` or ``fst``, ``wave_depth`` levels down."""
    return build_design(functools.partial(BankStreamer, tier), f"bank_stream_{tier.name}_r{tier.geometry.rows}",
                        key=repr(tier), harness=BANK_PORTS, waves=waves, wave_depth=wave_depth if waves else None)


@functools.cache
def _streamer(tier) -> BankStreamer:
    """A BankStreamer of that tier, for its command packing (never elaborated)."""
    bank = BankStreamer(tier)
    silence_unused(bank)
    return bank


def stream_bank(tier, words: list[int], reads: int, waves: str | None = None, raw: bool = False,
                wave_depth: int = 2):
    """Load ``words`` into a lone bank from column 0, then stream ``reads`` reads from column 0 in HDL.
    Returns the harness log (``counters``: cycles, beats, checksum, bank counters) with ``wall_s`` and
    ``wave_file`` (None for an untraced run) set."""
    check_dram_tier(tier)                  # before any gateware exists: nothing half-built to warn about
    build = bank_build(tier, waves, wave_depth)
    bank = _streamer(tier)
    cmds = [bank.write(a, w) for a, w in enumerate(words)] + [bank.start(0, reads)]
    played = Testbench(build).play(cmds, raw=raw, tag=f"bank_{len(words)}_{reads}")
    log, wall = played.log, played.wall_s
    if log.timed_out:
        raise AssertionError(f"bank stream: no done after {log.cycles} cycles")
    log.wall_s, log.wave_file = wall, build.wave_file
    return log
