"""The per-bank processing unit: local PAMattention for one (request, kv head), in the golden order.

For a command (``tokens`` n, ``group`` G) the PU loads G pre-scaled query
vectors (G·C vectors of W lanes, C = head_dim/W, head-major), then takes the
bank's KV columns block by block (B tokens per block, set by the buffer).
It emits G partials (m, l, O), one per query head, bit-exact to
``golden.hwmodel.pu_partials``. With n = 0 it emits the identity.

Per block of Bt tokens, the column stream is:

* **K, chunk-major**: for c in 0..C-1, for t in the block: chunk c of k_t.
  Each column meets the G query chunks in the W-lane dot unit, and the chunk
  sum is added to the score S[t, g] in the buffer. Successive adds to one
  score are a pass of max(Bt·G, 4) slots apart, more than the adder's latency
  (3), so the read-modify-write never races. The last pass folds each head's
  running max;
* then α = exp2(fmt(m_run - m_new)) and P[t, g] = exp2(fmt(S[t, g] - m_new))
  (one chain: subtract, narrow, exp2, widen), then l·α and O·α;
* **V, token-major**: for t in the block, for c: chunk c of v_t.
  O[g, c] += fmt·fmt→acc(P[t, g]·v) and, at c = 0, l[g] += P[t, g].
  Successive updates of one O row are C·G ≥ 4 slots apart.

Every arithmetic step is one of the verified datapaths (``hw/fp/``).
Phases drain their pipelines before the next begins; the cycle cost is in
docs/architecture.md.
"""

from __future__ import annotations

import enum
from types import SimpleNamespace

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.formats import FloatFormat

from .fp.fadd import FADD_LATENCY, fadd_datapath
from .fp.fconvert import FCONVERT_LATENCY, fconvert_datapath
from .fp.fdot import fdot_datapath, fdot_latency
from .fp.expdiff import EXP2_DIFF_LATENCY, exp2_difference_datapath
from .fp.fmax import fmax_value
from .fp.fmul import FMUL_LATENCY, fmul_datapath
from .partial import identity_bits, partial_layout
from .fp.pipeline import Pipeline, after_countdown, delay_line

__all__ = ["PU", "MIN_PASS", "check_pu_shape", "phase_cycles"]

MIN_PASS = FADD_LATENCY + 1        # slots between two read-modify-writes of one accumulator


class Phase(enum.IntEnum):
    IDLE = 0
    CLEAR = 1
    LOADQ = 2
    BLOCK = 3
    K = 4
    K_DRAIN = 5
    P = 6
    P_DRAIN = 7
    RESCALE = 8
    R_DRAIN = 9
    V = 10
    V_DRAIN = 11
    GATHER = 12
    SEND = 13


def check_pu_shape(lanes: int, head_dim: int, max_group: int, block_tokens: int) -> None:
    """Refuse a PU shape that cannot be built (``PU`` calls this before it exists): W a power of two,
    head_dim a multiple of W with at least MIN_PASS chunks, G and B at least 1."""
    if lanes < 1 or lanes & (lanes - 1):
        raise ValueError(f"lanes must be a power of two, not {lanes!r}")
    if head_dim % lanes or head_dim // lanes < MIN_PASS:
        raise ValueError(f"head_dim {head_dim} must be a multiple of lanes {lanes} with at least "
                         f"{MIN_PASS} chunks (the V-phase accumulators need that spacing)")
    if max_group < 1 or block_tokens < 1:
        raise ValueError(f"max_group ({max_group}) and block_tokens ({block_tokens}) must be >= 1")


def phase_cycles(tokens: int, group: int, chunks: int, block_tokens: int) -> tuple[int, int]:
    """Cycles of a PU's K and V column streams over ``tokens`` in blocks of ``block_tokens`` (C = ``chunks``):
    C·max(Bt·G, MIN_PASS) and Bt·C·G per block."""
    k = v = 0
    for start in range(0, tokens, block_tokens):
        bt = min(block_tokens, tokens - start)
        k += chunks * max(bt * group, MIN_PASS)
        v += bt * chunks * group
    return k, v


class PU(wiring.Component):
    """Processing unit next to one bank.

    Parameters
    ----------
    fmt, acc : FloatFormat
        Compute/storage and accumulator formats (``golden.hwmodel.HwConfig``).
    lanes : int
        W, lanes of the vector unit (power of two).
    head_dim : int
        A multiple of W with head_dim/W >= 4.
    max_group : int
        Largest GQA group G the buffers hold.
    block_tokens : int
        B, tokens per block.
    """

    def __new__(cls, fmt: FloatFormat, acc: FloatFormat, lanes: int, head_dim: int, max_group: int,
                block_tokens: int):
        # Checked before the object exists, so a rejected PU is never an unused elaboratable.
        check_pu_shape(lanes, head_dim, max_group, block_tokens)
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, fmt: FloatFormat, acc: FloatFormat, lanes: int, head_dim: int, max_group: int,
                 block_tokens: int):
        self._fmt, self._acc, self._w, self._d = fmt, acc, lanes, head_dim
        self._gmax, self._b = max_group, block_tokens
        self._c = head_dim // lanes
        vec = data.ArrayLayout(fmt.width, lanes)
        partial = partial_layout(acc, head_dim)
        super().__init__({
            "cmd": In(stream.Signature(data.StructLayout({"tokens": 32, "group": range(max_group + 1)}))),
            "q": In(stream.Signature(vec)),
            "kv": In(stream.Signature(vec)),
            "part": Out(stream.Signature(partial)),
            "busy": Out(1), "busy_cycles": Out(32),
        })

    @property
    def chunks(self) -> int:
        return self._c

    def drain_cycles(self) -> dict[Phase, int]:
        """The one drain table: cycles each drain phase waits for its pipelines (the sequencer loads these
        into its countdown; the phase lasts that many cycles plus one)."""
        return {Phase.K_DRAIN: fdot_latency(self._w) + FADD_LATENCY + 1,     # dot, then the score add
                Phase.P_DRAIN: EXP2_DIFF_LATENCY + 1,                         # subtract, narrow, exp2, widen
                Phase.R_DRAIN: FMUL_LATENCY + 1,                              # O·α, l·α
                Phase.V_DRAIN: FMUL_LATENCY + FADD_LATENCY + 1}               # P·v, then O += and l +=

    def block_overhead(self, block: int, group: int) -> int:
        """Cycles of one block spent outside the K and V column streams: the BLOCK set-up cycle, the drains
        (``drain_cycles``), the α/P chain (G alphas and Bt·G probabilities, one per cycle, plus its last
        cycle) and the rescale (G·C rows)."""
        drains = sum(n + 1 for n in self.drain_cycles().values())
        return 1 + drains + group * (block + 1) + group * self._c

    def phase_cycles(self, tokens: int, group: int) -> tuple[int, int]:
        """Cycles of the K and the V column streams over ``tokens`` (inputs always valid)."""
        return phase_cycles(tokens, group, self._c, self._b)

    def cycles(self, tokens: int, group: int) -> int:
        """PU cycles from the command to the last partial, with inputs always valid and outputs always ready.
        Next to a bank the PU runs at the tier's ``pu_mhz`` (``hw.puclock.ClockedPU``): these cycles then take
        ceil((cycles + 1) · memory_mhz / pu_mhz) memory cycles from the testbench's first edge, plus one for the
        output register (``tests/hw/test_pu.py``).

        2·G·C (clear O, load q) + per block of Bt tokens [C·max(Bt·G, 4) (K) + Bt·C·G (V)
        + block_overhead] + G·(C + 1) (gather and send each head's partial).
        """
        C = self._c
        overhead = sum(self.block_overhead(min(self._b, tokens - start), group)
                       for start in range(0, tokens, self._b))
        return 2 * group * C + group * (C + 1) + sum(self.phase_cycles(tokens, group)) + overhead

    def elaborate(self, platform):
        m = Module()
        pu = self._state(m)
        pipe = Pipeline(m, Const(1))
        self._k_datapath(m, pipe, pu)
        self._p_datapath(m, pipe, pu)
        self._rescale_datapath(m, pipe, pu)
        self._v_datapath(m, pipe, pu)
        self._memory_ports(m, pu)
        self._accumulators(m, pu)
        self._sequencer(m, pu)
        return m

    # -- state: the buffers, the per-head registers and the sequencer's counters -----------------------------

    def _state(self, m: Module) -> SimpleNamespace:
        fmt, acc, W, C, G_MAX, B = self._fmt, self._acc, self._w, self._c, self._gmax, self._b
        pu = SimpleNamespace(vec=data.ArrayLayout(fmt.width, W), neg_inf=identity_bits(acc))
        avec = data.ArrayLayout(acc.width, W)
        m.submodules.qmem = qmem = Memory(shape=pu.vec, depth=G_MAX * C, init=[])
        m.submodules.smem = smem = Memory(shape=acc.width, depth=B * G_MAX, init=[])
        m.submodules.pmem = pmem = Memory(shape=fmt.width, depth=B * G_MAX, init=[])
        m.submodules.omem = omem = Memory(shape=avec, depth=G_MAX * C, init=[])
        pu.q_wr, pu.q_rd = qmem.write_port(), qmem.read_port(domain="comb")
        pu.s_wr, pu.s_rd = smem.write_port(), smem.read_port(domain="comb")
        pu.p_wr, pu.p_rd = pmem.write_port(), pmem.read_port(domain="comb")
        pu.o_wr, pu.o_rd = omem.write_port(), omem.read_port(domain="comb")
        # Per-head registers, padded to a power of two so every index of a head counter is covered.
        pu.heads = heads = 1 << max(1, (G_MAX - 1).bit_length())
        pu.m_run = Array(Signal(acc.width, name=f"m_run{g}", init=pu.neg_inf) for g in range(heads))
        pu.m_acc = Array(Signal(acc.width, name=f"m_new{g}") for g in range(heads))
        pu.l_acc = Array(Signal(acc.width, name=f"l{g}") for g in range(heads))
        pu.alpha = Array(Signal(acc.width, name=f"alpha{g}") for g in range(heads))
        pu.phase = Signal(Phase, name="phase")
        pu.n_tokens = Signal(32, name="n_tokens")
        pu.group = Signal(range(G_MAX + 1), name="group")
        pu.blk_start = Signal(32, name="blk_start")
        pu.blk_len = Signal(range(B + 1), name="blk_len")
        pu.t = Signal(range(B + 1), name="t")
        pu.c = Signal(range(C + 1), name="c")
        pu.g = Signal(range(heads), name="g")
        pu.slot = Signal(range(max(B * G_MAX, MIN_PASS) + 1), name="slot")
        pu.drain = Signal(range(max(self.drain_cycles().values()) + 1), name="drain")
        pu.column = Signal(pu.vec, name="column")
        pu.last_g = pu.g + 1 == pu.group
        # The slot of each phase issues when its strobe is high (driven by the sequencer).
        pu.k_issue, pu.p_issue, pu.r_issue, pu.v_issue = (Signal(name=f"{x}_issue") for x in "kprv")
        pu.p_is_alpha = Signal(name="p_is_alpha")
        return pu

    # -- datapaths ---------------------------------------------------------------------------------------------

    def _k_datapath(self, m: Module, pipe: Pipeline, pu) -> None:
        """K phase: the W-lane dot of a query chunk and a K column, then the score accumulate."""
        fmt, acc, W, C = self._fmt, self._acc, self._w, self._c
        k_col = data.View(pu.vec, Mux(pu.g == 0, self.kv.payload, pu.column))   # a Mux of views is raw bits
        m.d.comb += pu.q_rd.addr.eq(pu.g * C + pu.c)
        chunk_sum = fdot_datapath(m, pipe, pu.q_rd.data, k_col, W, fmt, acc, "dot")
        pu.d_valid, pu.d_t, pu.d_g, pu.d_c = delay_line(pipe, "dot", fdot_latency(W), valid=pu.k_issue, t=pu.t,
                                                        g=pu.g, c=pu.c)
        old_score = Mux(pu.d_c == 0, 0, pu.s_rd.data)
        pu.new_score = fadd_datapath(m, pipe, old_score, chunk_sum, acc, "sadd")
        pu.a_valid, pu.a_t, pu.a_g, pu.a_c = delay_line(pipe, "sadd", FADD_LATENCY, valid=pu.d_valid, t=pu.d_t,
                                                        g=pu.d_g, c=pu.d_c)

    def _p_datapath(self, m: Module, pipe: Pipeline, pu) -> None:
        """P phase: α = exp2(m_run - m_new), then P = exp2(S - m_new): subtract, narrow, exp2, widen."""
        p_a = Mux(pu.p_is_alpha, pu.m_run[pu.g], pu.s_rd.data)
        pu.prob, pu.wide = exp2_difference_datapath(m, pipe, p_a, pu.m_acc[pu.g], self._fmt, self._acc, "p")
        pl = EXP2_DIFF_LATENCY - FCONVERT_LATENCY
        pu.pv_valid, pu.pv_alpha, pu.pv_t, pu.pv_g = delay_line(pipe, "pexp", pl, valid=pu.p_issue,
                                                                alpha=pu.p_is_alpha, t=pu.t, g=pu.g)
        pu.w_valid, pu.w_alpha, pu.w_g = delay_line(pipe, "pwiden", FCONVERT_LATENCY, valid=pu.pv_valid,
                                                    alpha=pu.pv_alpha, g=pu.pv_g)

    def _rescale_datapath(self, m: Module, pipe: Pipeline, pu) -> None:
        """Rescale: O·α for every row and l·α."""
        acc = self._acc
        o_row = pu.o_rd.data
        pu.scaled = [fmul_datapath(m, pipe, o_row[i], pu.alpha[pu.g], acc, acc, f"rmul{i}") for i in range(self._w)]
        pu.scaled_l = fmul_datapath(m, pipe, pu.l_acc[pu.g], pu.alpha[pu.g], acc, acc, "rmul_l")
        pu.r_valid, pu.r_g, pu.r_c = delay_line(pipe, "rmul", FMUL_LATENCY, valid=pu.r_issue, g=pu.g, c=pu.c)

    def _v_datapath(self, m: Module, pipe: Pipeline, pu) -> None:
        """V phase: P·v into O, P into l."""
        fmt, acc, W = self._fmt, self._acc, self._w
        v_col = data.View(pu.vec, Mux(pu.g == 0, self.kv.payload, pu.column))
        prods = [fmul_datapath(m, pipe, pu.p_rd.data, v_col[i], fmt, acc, f"vmul{i}") for i in range(W)]
        p_wide = fconvert_datapath(m, pipe, pu.p_rd.data, fmt, acc, "vwiden")
        pu.mv_valid, pu.mv_g, pu.mv_c = delay_line(pipe, "vmul", FMUL_LATENCY, valid=pu.v_issue, g=pu.g, c=pu.c)
        pu.sums = [fadd_datapath(m, pipe, pu.o_rd.data[i], prods[i], acc, f"vadd{i}") for i in range(W)]
        pu.l_sum = fadd_datapath(m, pipe, pu.l_acc[pu.mv_g], p_wide, acc, "ladd")
        pu.va_valid, pu.va_g, pu.va_c = delay_line(pipe, "vadd", FADD_LATENCY, valid=pu.mv_valid, g=pu.mv_g,
                                                   c=pu.mv_c)

    def _memory_ports(self, m: Module, pu) -> None:
        """Buffer addresses and writes: scores, probabilities, and the O rows (rescale, V, clear)."""
        C, G_MAX = self._c, self._gmax
        m.d.comb += [
            pu.s_rd.addr.eq(Mux(pu.phase == Phase.P, pu.t * G_MAX + pu.g, pu.d_t * G_MAX + pu.d_g)),
            pu.s_wr.addr.eq(pu.a_t * G_MAX + pu.a_g), pu.s_wr.data.eq(pu.new_score), pu.s_wr.en.eq(pu.a_valid),
            pu.p_wr.addr.eq(pu.pv_t * G_MAX + pu.pv_g), pu.p_wr.data.eq(pu.prob),
            pu.p_wr.en.eq(pu.pv_valid & ~pu.pv_alpha),
            pu.p_rd.addr.eq(pu.t * G_MAX + pu.g),
        ]
        with m.If((pu.phase == Phase.V) | (pu.phase == Phase.V_DRAIN)):
            m.d.comb += pu.o_rd.addr.eq(pu.mv_g * C + pu.mv_c)
        with m.Else():
            m.d.comb += pu.o_rd.addr.eq(pu.g * C + pu.c)
        with m.If(pu.r_valid):
            m.d.comb += [pu.o_wr.addr.eq(pu.r_g * C + pu.r_c), pu.o_wr.data.eq(Cat(*pu.scaled)), pu.o_wr.en.eq(1)]
        with m.Elif(pu.va_valid):
            m.d.comb += [pu.o_wr.addr.eq(pu.va_g * C + pu.va_c), pu.o_wr.data.eq(Cat(*pu.sums)), pu.o_wr.en.eq(1)]
        with m.Elif(pu.phase == Phase.CLEAR):
            m.d.comb += [pu.o_wr.addr.eq(pu.g * C + pu.c), pu.o_wr.data.eq(0), pu.o_wr.en.eq(1)]

    def _accumulators(self, m: Module, pu) -> None:
        """Per-head register updates driven by the pipelines' outputs: the running max, α and l."""
        acc, C = self._acc, self._c
        with m.If(pu.a_valid & (pu.a_c == C - 1)):
            m.d.sync += pu.m_acc[pu.a_g].eq(fmax_value(pu.m_acc[pu.a_g], pu.new_score, acc))
        with m.If(pu.w_valid & pu.w_alpha):
            m.d.sync += pu.alpha[pu.w_g].eq(pu.wide)
        # A rescale at c == 0 also scales l; the V phase adds P at c == 0.
        with m.If(pu.r_valid & (pu.r_c == 0)):
            m.d.sync += pu.l_acc[pu.r_g].eq(pu.scaled_l)
        with m.If(pu.va_valid & (pu.va_c == 0)):
            m.d.sync += pu.l_acc[pu.va_g].eq(pu.l_sum)

    # -- sequencer ---------------------------------------------------------------------------------------------

    def _sequencer(self, m: Module, pu) -> None:
        """The phase FSM: command, clear, load q, then per block K, drain, P, drain, rescale, drain, V, drain;
        then gather and send each head's partial. The drains come from ``drain_cycles``."""
        acc, W, C, B = self._acc, self._w, self._c, self._b
        drains = self.drain_cycles()
        phase, g, c, t, last_g = pu.phase, pu.g, pu.c, pu.t, pu.last_g

        def drain_then(next_phase: Phase, *then):
            """Enter the drain phase of the phase that just ended."""
            return [pu.drain.eq(drains[next_phase]), phase.eq(next_phase), *then]

        def after_drain(*then):
            """Pipelines empty before the next phase."""
            after_countdown(m, pu.drain, *then)

        def take_column(active):
            """At g == 0 of an active slot, take the next KV column (held for the other heads);
            returns whether the slot can go ahead this cycle."""
            need = active & (g == 0)
            m.d.comb += self.kv.ready.eq(need)
            with m.If(need & self.kv.valid):
                m.d.sync += pu.column.eq(self.kv.payload)
            return ~need | self.kv.valid

        def step_heads_chunks(*when_done):
            """Advance c, then g, over G heads × C chunks; run ``when_done`` after the last pair."""
            with m.If(c == C - 1):
                m.d.sync += c.eq(0)
                with m.If(last_g):
                    m.d.sync += [g.eq(0), *when_done]
                with m.Else():
                    m.d.sync += g.eq(g + 1)
            with m.Else():
                m.d.sync += c.eq(c + 1)

        m.d.comb += self.busy.eq(phase != Phase.IDLE)
        m.d.sync += self.busy_cycles.eq(self.busy_cycles + self.busy)
        with m.Switch(phase):
            with m.Case(Phase.IDLE):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    m.d.sync += [pu.n_tokens.eq(self.cmd.payload.tokens), pu.group.eq(self.cmd.payload.group),
                                 pu.blk_start.eq(0), g.eq(0), c.eq(0), phase.eq(Phase.CLEAR)]
                    for i in range(pu.heads):
                        m.d.sync += [pu.m_run[i].eq(pu.neg_inf), pu.l_acc[i].eq(0)]
            with m.Case(Phase.CLEAR):                       # O = +0 for every head and chunk
                step_heads_chunks(phase.eq(Phase.LOADQ))
            with m.Case(Phase.LOADQ):                       # G·C query vectors, head-major
                m.d.comb += [self.q.ready.eq(1), pu.q_wr.addr.eq(g * C + c), pu.q_wr.data.eq(self.q.payload),
                             pu.q_wr.en.eq(self.q.valid)]
                with m.If(self.q.valid):
                    step_heads_chunks(phase.eq(Mux(pu.n_tokens == 0, Phase.GATHER, Phase.BLOCK)))
            with m.Case(Phase.BLOCK):
                left = pu.n_tokens - pu.blk_start
                m.d.sync += [pu.blk_len.eq(Mux(left > B, B, left)), t.eq(0), c.eq(0), g.eq(0), pu.slot.eq(0),
                             phase.eq(Phase.K)]
                for i in range(pu.heads):
                    m.d.sync += pu.m_acc[i].eq(pu.m_run[i])
            with m.Case(Phase.K):                           # chunk-major passes over the block
                real = pu.slot < pu.blk_len * pu.group
                go = take_column(real)
                m.d.comb += pu.k_issue.eq(real & go)
                with m.If(go):
                    pass_len = Mux(pu.blk_len * pu.group > MIN_PASS, pu.blk_len * pu.group, MIN_PASS)
                    with m.If(pu.slot + 1 == pass_len):
                        m.d.sync += [pu.slot.eq(0), t.eq(0), g.eq(0)]
                        with m.If(c == C - 1):
                            m.d.sync += [c.eq(0), *drain_then(Phase.K_DRAIN)]
                        with m.Else():
                            m.d.sync += c.eq(c + 1)
                    with m.Else():
                        m.d.sync += pu.slot.eq(pu.slot + 1)
                        with m.If(real):
                            with m.If(last_g):
                                m.d.sync += [g.eq(0), t.eq(t + 1)]
                            with m.Else():
                                m.d.sync += g.eq(g + 1)
            with m.Case(Phase.K_DRAIN):
                after_drain(t.eq(0), g.eq(0), pu.p_is_alpha.eq(1), phase.eq(Phase.P))
            with m.Case(Phase.P):                           # G alphas, then Bt·G probabilities
                m.d.comb += pu.p_issue.eq(1)
                with m.If(last_g):
                    m.d.sync += g.eq(0)
                    with m.If(pu.p_is_alpha):
                        m.d.sync += [pu.p_is_alpha.eq(0), t.eq(0)]
                    with m.Elif(t + 1 == pu.blk_len):
                        m.d.sync += drain_then(Phase.P_DRAIN)
                    with m.Else():
                        m.d.sync += t.eq(t + 1)
                with m.Else():
                    m.d.sync += g.eq(g + 1)
            with m.Case(Phase.P_DRAIN):
                after_drain(g.eq(0), c.eq(0), phase.eq(Phase.RESCALE),
                            *(pu.m_run[i].eq(pu.m_acc[i]) for i in range(pu.heads)))
            with m.Case(Phase.RESCALE):                     # O·α for every row, l·α at c == 0
                m.d.comb += pu.r_issue.eq(1)
                step_heads_chunks(*drain_then(Phase.R_DRAIN))
            with m.Case(Phase.R_DRAIN):
                after_drain(t.eq(0), c.eq(0), g.eq(0), phase.eq(Phase.V))
            with m.Case(Phase.V):                           # token-major: t, then c, then g
                go = take_column(Const(1))
                m.d.comb += pu.v_issue.eq(go)
                with m.If(go):
                    with m.If(last_g):
                        m.d.sync += g.eq(0)
                        with m.If(c == C - 1):
                            m.d.sync += c.eq(0)
                            with m.If(t + 1 == pu.blk_len):
                                m.d.sync += drain_then(Phase.V_DRAIN)
                            with m.Else():
                                m.d.sync += t.eq(t + 1)
                        with m.Else():
                            m.d.sync += c.eq(c + 1)
                    with m.Else():
                        m.d.sync += g.eq(g + 1)
            with m.Case(Phase.V_DRAIN):
                done = pu.blk_start + pu.blk_len
                after_drain(pu.blk_start.eq(done), t.eq(0), c.eq(0), g.eq(0),
                            phase.eq(Mux(done < pu.n_tokens, Phase.BLOCK, Phase.GATHER)))
            with m.Case(Phase.GATHER):                      # read head g's O rows into the output register
                with m.If(c == C - 1):
                    m.d.sync += [c.eq(0), phase.eq(Phase.SEND)]
                with m.Else():
                    m.d.sync += c.eq(c + 1)
                with m.Switch(c):
                    for i in range(C):
                        with m.Case(i):
                            m.d.sync += self.part.payload.o.as_value()[i * W * acc.width:(i + 1) * W * acc.width].eq(
                                pu.o_rd.data.as_value())
                m.d.sync += [self.part.payload.m.eq(pu.m_run[g]), self.part.payload.l.eq(pu.l_acc[g])]
            with m.Case(Phase.SEND):
                m.d.comb += self.part.valid.eq(1)
                with m.If(self.part.ready):
                    with m.If(last_g):
                        m.d.sync += [g.eq(0), phase.eq(Phase.IDLE)]
                    with m.Else():
                        m.d.sync += [g.eq(g + 1), phase.eq(Phase.GATHER)]
