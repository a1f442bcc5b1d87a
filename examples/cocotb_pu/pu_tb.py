"""A plain cocotb test of the project's processing unit (``hw.pu.PU``), written the usual cocotb way.

Python owns everything here: the clock and reset (``PuTB``), a driver per input
stream that holds ``valid`` until ``ready`` (``drive``), a monitor that drives
``part.ready`` and samples the output after ``RisingEdge`` then ``ReadOnly``
(``monitor``), and a scoreboard that compares every bit of every partial with
the golden model (``golden.hwmodel.bank_partial``) and raises on the first bit
that differs (``check_partial``).

The configuration is small on purpose (FP16 data, FP32 accumulation, W = 4
lanes, head_dim 16, one query head, blocks of 4 tokens) so that Verilator
builds it in about half a minute of CPU. ``run_pu_tb.py`` emits the Verilog and runs
this module; see README.md.

Port names are Amaranth's, flattened with ``__`` (``cmd__valid``,
``kv__payload``); every payload is one vector whose struct fields and array
elements pack from bit 0 upwards, so this file packs and unpacks them itself.
"""

from __future__ import annotations

import os

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from golden.formats import FP16, FP32
from golden.hwmodel import HwConfig, bank_partial, prescale_query
from hw.kvlayout import kv_columns
from hw.pu import PU, Phase

# The design under test: one configuration, shared with run_pu_tb.py (which emits it).
FMT, ACC = FP16, FP32
LANES, HEAD_DIM, MAX_GROUP, BLOCK = 4, 16, 1, 4
CHUNKS = HEAD_DIM // LANES

# The commands the test plays back to back: tokens per command (3 blocks, a partial one last; no tokens,
# which must give the identity partial; one partial block).
TOKENS = (3 * BLOCK - 1, 0, BLOCK + 1)
IDLE_P = 0.25        # a driver leaves valid low for a cycle with this probability
STALL_P = 0.4        # the monitor holds part.ready low for a cycle with this probability
CYCLE_LIMIT = 20_000


def make_pu() -> PU:
    return PU(FMT, ACC, LANES, HEAD_DIM, MAX_GROUP, BLOCK)


# -- payloads: pack what goes in, unpack what comes out ---------------------------------------------------------

def pack_lanes(lanes) -> int:
    """``q.payload`` and ``kv.payload``: W lanes of FMT bits, lane 0 in the low bits."""
    return sum(int(x) << (FMT.width * i) for i, x in enumerate(lanes))


def pack_cmd(tokens: int, group: int) -> int:
    """``cmd.payload``: tokens in bits 0..31, then the group."""
    return tokens | group << 32


# part.payload: these fields, ACC.width bits each, from bit 0.
FIELDS = ("m", "l", *(f"O[{i}]" for i in range(HEAD_DIM)))


def pack_partial(fields) -> int:
    return sum(int(x) << (ACC.width * i) for i, x in enumerate(fields))


def unpack_partial(word: int) -> list[int]:
    return [(word >> (ACC.width * i)) & ((1 << ACC.width) - 1) for i in range(len(FIELDS))]


def golden_partials(q, k, v) -> list[int]:
    """The payload words the PU must emit, one per query head: ``golden.hwmodel.bank_partial``."""
    part = bank_partial(q, k, v, HwConfig(FMT, ACC, LANES, BLOCK))
    return [pack_partial([part.m[g], part.l[g], *part.o[g]]) for g in range(len(q))]


def check_partial(what: str, got: int, want: int) -> None:
    """Every bit of one part.payload; raises on the first (lowest) bit that differs, naming its field."""
    if got == want:
        return
    diff = got ^ want
    bit = (diff & -diff).bit_length() - 1
    field = bit // ACC.width
    a, b = unpack_partial(got)[field], unpack_partial(want)[field]
    raise AssertionError(f"{what}: part.payload bit {bit} ({FIELDS[field]} bit {bit % ACC.width}) is "
                         f"{got >> bit & 1}, golden {want >> bit & 1}: {FIELDS[field]} = 0x{a:08x}, golden 0x{b:08x}")


def make_commands(rng: np.random.Generator):
    """Random FP16 jobs: (pre-scaled q [G, d], k [n, d], v [n, d]) as bit patterns, G = MAX_GROUP."""
    jobs = []
    for tokens in TOKENS:
        q = FMT.from_float(rng.standard_normal((MAX_GROUP, HEAD_DIM)))
        k = FMT.from_float(rng.standard_normal((tokens, HEAD_DIM))).astype(np.int64)
        v = FMT.from_float(rng.standard_normal((tokens, HEAD_DIM))).astype(np.int64)
        jobs.append((prescale_query(q, FMT), k, v))
    return jobs


# -- the testbench ------------------------------------------------------------------------------------------------

class PuTB:
    """Owns the clock and the reset; knows the streams of the PU."""

    def __init__(self, dut, rng: np.random.Generator):
        self.dut, self.rng = dut, rng
        self.cycle = 0

    async def start(self) -> None:
        Clock(self.dut.clk, 10, unit="ns").start()
        cocotb.start_soon(self._count_cycles())
        for name in ("cmd", "q", "kv"):
            getattr(self.dut, f"{name}__valid").value = 0
        self.dut.part__ready.value = 0
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 3)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def _count_cycles(self) -> None:
        while True:
            await RisingEdge(self.dut.clk)
            self.cycle += 1

    async def drive(self, name: str, words) -> None:
        """Send ``words`` on input stream ``name``: valid stays high, payload unchanged, until ready."""
        valid, ready, payload = (getattr(self.dut, f"{name}__{x}") for x in ("valid", "ready", "payload"))
        for word in words:
            while self.rng.random() < IDLE_P:
                valid.value = 0
                await RisingEdge(self.dut.clk)
            payload.value = word
            valid.value = 1
            await ReadOnly()                    # settled: is the PU ready this cycle?
            while not ready.value:
                await RisingEdge(self.dut.clk)
                await ReadOnly()
            await RisingEdge(self.dut.clk)      # the transfer happens at this edge
        valid.value = 0

    async def driver(self, jobs) -> None:
        """Each command, then its query chunks (head-major), then its KV columns in the PU's order
        (``hw.kvlayout.kv_columns``: per block, K chunk-major, then V token-major)."""
        for q, k, v in jobs:
            await self.drive("cmd", [pack_cmd(len(k), len(q))])
            await self.drive("q", [pack_lanes(q[g, c * LANES:(c + 1) * LANES])
                                   for g in range(len(q)) for c in range(CHUNKS)])
            await self.drive("kv", [pack_lanes(col) for col in kv_columns(k, v, LANES, BLOCK)])

    async def monitor(self, want: list) -> None:
        """Drive part.ready (with random back-pressure), take the partials and check each against ``want`` as it
        leaves. Also a protocol check: once part.valid is high it stays high, with the same payload, until the
        partial is taken."""
        taken, held = 0, None
        while taken < len(want):
            await RisingEdge(self.dut.clk)
            ready = int(self.rng.random() >= STALL_P)
            self.dut.part__ready.value = ready
            await ReadOnly()                    # sample the settled outputs of this cycle
            if self.cycle > CYCLE_LIMIT:
                raise AssertionError(f"{taken} of {len(want)} partials after {CYCLE_LIMIT} cycles")
            valid = int(self.dut.part__valid.value)
            word = self.dut.part__payload.value.to_unsigned() if valid else None
            if held is not None:
                assert valid and word == held, f"cycle {self.cycle}: part.valid or its payload changed before ready"
            held = word if valid and not ready else None
            if valid and ready:                 # the partial is taken at the next edge
                check_partial(f"partial {taken} (cycle {self.cycle})", word, want[taken])
                taken += 1


@cocotb.test()
async def pu_partials_match_golden(dut):
    """Three commands back to back, with idle inputs and output back-pressure: every bit of every partial."""
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    jobs = make_commands(rng)
    want = [p for q, k, v in jobs for p in golden_partials(q, k, v)]
    if "PU_TB_FLIP_BIT" in os.environ:          # a self-test of the check: a wrong golden bit must fail the test
        want[0] ^= 1 << int(os.environ["PU_TB_FLIP_BIT"])

    tb = PuTB(dut, rng)
    await tb.start()
    cocotb.start_soon(tb.driver(jobs))
    await tb.monitor(want)

    await RisingEdge(dut.clk)                   # the last partial has left: the sequencer is idle again
    await ReadOnly()
    assert dut.phase.value.to_unsigned() == Phase.IDLE, f"phase {Phase(dut.phase.value.to_unsigned())!r}"
    dut._log.info("%d partials match the golden model bit for bit in %d cycles (PU busy %d of them)",
                  len(want), tb.cycle, dut.busy_cycles.value.to_unsigned())
