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

Every arithmetic step is one of the verified datapaths (``hw/f*.py``).
Phases drain their pipelines before the next begins; the cycle cost is in
docs/architecture.md.
"""

from __future__ import annotations

import enum

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.formats import FloatFormat

from .fadd import FADD_LATENCY, fadd_datapath
from .fconvert import FCONVERT_LATENCY, fconvert_datapath
from .fdot import fdot_datapath, fdot_latency
from .expdiff import EXP2_DIFF_LATENCY, exp2_difference_datapath
from .fmax import fmax_value
from .fmul import FMUL_LATENCY, fmul_datapath
from .partial import identity_bits, partial_layout
from .pipeline import Pipeline, after_countdown

__all__ = ["PU", "MIN_PASS", "phase_cycles"]

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

    def __init__(self, fmt: FloatFormat, acc: FloatFormat, lanes: int, head_dim: int, max_group: int,
                 block_tokens: int):
        if lanes < 1 or lanes & (lanes - 1):
            self._MustUse__silence = True
            raise ValueError(f"lanes must be a power of two, not {lanes!r}")
        if head_dim % lanes or head_dim // lanes < MIN_PASS:
            self._MustUse__silence = True
            raise ValueError(f"head_dim {head_dim} must be a multiple of lanes {lanes} with at least "
                             f"{MIN_PASS} chunks (the V-phase accumulators need that spacing)")
        if max_group < 1 or block_tokens < 1:
            self._MustUse__silence = True
            raise ValueError(f"max_group ({max_group}) and block_tokens ({block_tokens}) must be >= 1")
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

    def block_overhead(self, block: int, group: int) -> int:
        """Cycles of one block spent outside the K and V column streams (drains, α/P chain, rescale)."""
        C = self._c
        k_drain = fdot_latency(self._w) + FADD_LATENCY + 2
        p_drain = EXP2_DIFF_LATENCY + 2
        return 1 + k_drain + group * (block + 1) + p_drain + group * C + FMUL_LATENCY + 2 + \
            FMUL_LATENCY + FADD_LATENCY + 2

    def phase_cycles(self, tokens: int, group: int) -> tuple[int, int]:
        """Cycles of the K and the V column streams over ``tokens`` (inputs always valid)."""
        return phase_cycles(tokens, group, self._c, self._b)

    def cycles(self, tokens: int, group: int) -> int:
        """Cycles from the command to the last partial, with inputs always valid and outputs always ready.

        2·G·C (clear O, load q) + per block of Bt tokens [C·max(Bt·G, 4) (K) + Bt·C·G (V)
        + block_overhead] + G·(C + 1) (gather and send each head's partial).
        """
        C = self._c
        overhead = sum(self.block_overhead(min(self._b, tokens - start), group)
                       for start in range(0, tokens, self._b))
        return 2 * group * C + group * (C + 1) + sum(self.phase_cycles(tokens, group)) + overhead

    def elaborate(self, platform):
        m = Module()
        fmt, acc, W, C, G_MAX, B = self._fmt, self._acc, self._w, self._c, self._gmax, self._b
        pipe = Pipeline(m, Const(1))
        vec = data.ArrayLayout(fmt.width, W)
        avec = data.ArrayLayout(acc.width, W)
        neg_inf = identity_bits(acc)

        def delay(value, n, name):
            for i in range(n):
                value = pipe.register(f"{name}_d{i + 1}", value)
            return value

        m.submodules.qmem = qmem = Memory(shape=vec, depth=G_MAX * C, init=[])
        m.submodules.smem = smem = Memory(shape=acc.width, depth=B * G_MAX, init=[])
        m.submodules.pmem = pmem = Memory(shape=fmt.width, depth=B * G_MAX, init=[])
        m.submodules.omem = omem = Memory(shape=avec, depth=G_MAX * C, init=[])
        q_wr, q_rd = qmem.write_port(), qmem.read_port(domain="comb")
        s_wr, s_rd = smem.write_port(), smem.read_port(domain="comb")
        p_wr, p_rd = pmem.write_port(), pmem.read_port(domain="comb")
        o_wr, o_rd = omem.write_port(), omem.read_port(domain="comb")

        # Per-head registers, padded to a power of two so every index of a head counter is covered.
        heads = 1 << max(1, (G_MAX - 1).bit_length())
        m_run = Array(Signal(acc.width, name=f"m_run{g}", init=neg_inf) for g in range(heads))
        m_acc = Array(Signal(acc.width, name=f"m_new{g}") for g in range(heads))
        l_acc = Array(Signal(acc.width, name=f"l{g}") for g in range(heads))
        alpha = Array(Signal(acc.width, name=f"alpha{g}") for g in range(heads))

        phase = Signal(Phase, name="phase")
        n_tokens = Signal(32, name="n_tokens")
        group = Signal(range(G_MAX + 1), name="group")
        blk_start = Signal(32, name="blk_start")
        blk_len = Signal(range(B + 1), name="blk_len")
        t = Signal(range(B + 1), name="t")
        c = Signal(range(C + 1), name="c")
        g = Signal(range(heads), name="g")
        slot = Signal(range(max(B * G_MAX, MIN_PASS) + 1), name="slot")
        drain = Signal(range(64), name="drain")
        column = Signal(vec, name="column")
        last_g = g + 1 == group

        # -- K phase: dot unit, then score accumulate -------------------------
        k_issue = Signal(name="k_issue")
        k_col = data.View(vec, Mux(g == 0, self.kv.payload, column))   # a Mux of views is raw bits
        m.d.comb += q_rd.addr.eq(g * C + c)
        chunk_sum = fdot_datapath(m, pipe, q_rd.data, k_col, W, fmt, acc, "dot")
        dl = fdot_latency(W)
        d_valid, d_t, d_g, d_c = (delay(x, dl, f"dot_{n}") for n, x in
                                  (("valid", k_issue), ("t", t), ("g", g), ("c", c)))
        old_score = Mux(d_c == 0, 0, s_rd.data)
        new_score = fadd_datapath(m, pipe, old_score, chunk_sum, acc, "sadd")
        a_valid, a_t, a_g, a_c = (delay(x, FADD_LATENCY, f"sadd_{n}") for n, x in
                                  (("valid", d_valid), ("t", d_t), ("g", d_g), ("c", d_c)))

        # -- P phase: subtract, narrow, exp2, widen -----------------------------
        p_issue = Signal(name="p_issue")
        p_is_alpha = Signal(name="p_is_alpha")
        p_a = Mux(p_is_alpha, m_run[g], s_rd.data)
        prob, wide = exp2_difference_datapath(m, pipe, p_a, m_acc[g], fmt, acc, "p")
        pl = EXP2_DIFF_LATENCY - FCONVERT_LATENCY
        pv_valid, pv_alpha, pv_t, pv_g = (delay(x, pl, f"pexp_{n}") for n, x in
                                          (("valid", p_issue), ("alpha", p_is_alpha), ("t", t), ("g", g)))
        w_valid, w_alpha, w_g = (delay(x, FCONVERT_LATENCY, f"pwiden_{n}") for n, x in
                                 (("valid", pv_valid), ("alpha", pv_alpha), ("g", pv_g)))

        # -- rescale: O·α and l·α ------------------------------------------------
        r_issue = Signal(name="r_issue")
        o_row = o_rd.data
        scaled = [fmul_datapath(m, pipe, o_row[i], alpha[g], acc, acc, f"rmul{i}") for i in range(W)]
        scaled_l = fmul_datapath(m, pipe, l_acc[g], alpha[g], acc, acc, "rmul_l")
        r_valid, r_g, r_c = (delay(x, FMUL_LATENCY, f"rmul_{n}") for n, x in
                             (("valid", r_issue), ("g", g), ("c", c)))

        # -- V phase: P·v into O, P into l ----------------------------------------
        v_issue = Signal(name="v_issue")
        v_col = data.View(vec, Mux(g == 0, self.kv.payload, column))
        prods = [fmul_datapath(m, pipe, p_rd.data, v_col[i], fmt, acc, f"vmul{i}") for i in range(W)]
        p_wide = fconvert_datapath(m, pipe, p_rd.data, fmt, acc, "vwiden")
        mv_valid, mv_g, mv_c = (delay(x, FMUL_LATENCY, f"vmul_{n}") for n, x in
                                (("valid", v_issue), ("g", g), ("c", c)))
        sums = [fadd_datapath(m, pipe, o_row[i], prods[i], acc, f"vadd{i}") for i in range(W)]
        l_sum = fadd_datapath(m, pipe, l_acc[mv_g], p_wide, acc, "ladd")
        va_valid, va_g, va_c = (delay(x, FADD_LATENCY, f"vadd_{n}") for n, x in
                                (("valid", mv_valid), ("g", mv_g), ("c", mv_c)))

        # -- memory ports ----------------------------------------------------------
        m.d.comb += [
            s_rd.addr.eq(Mux(phase == Phase.P, t * G_MAX + g, d_t * G_MAX + d_g)),
            s_wr.addr.eq(a_t * G_MAX + a_g), s_wr.data.eq(new_score), s_wr.en.eq(a_valid),
            p_wr.addr.eq(pv_t * G_MAX + pv_g), p_wr.data.eq(prob), p_wr.en.eq(pv_valid & ~pv_alpha),
            p_rd.addr.eq(t * G_MAX + g),
        ]
        with m.If((phase == Phase.V) | (phase == Phase.V_DRAIN)):
            m.d.comb += o_rd.addr.eq(mv_g * C + mv_c)
        with m.Else():
            m.d.comb += o_rd.addr.eq(g * C + c)
        with m.If(r_valid):
            m.d.comb += [o_wr.addr.eq(r_g * C + r_c), o_wr.data.eq(Cat(*scaled)), o_wr.en.eq(1)]
        with m.Elif(va_valid):
            m.d.comb += [o_wr.addr.eq(va_g * C + va_c), o_wr.data.eq(Cat(*sums)), o_wr.en.eq(1)]
        with m.Elif(phase == Phase.CLEAR):
            m.d.comb += [o_wr.addr.eq(g * C + c), o_wr.data.eq(0), o_wr.en.eq(1)]

        # Register updates driven by pipeline outputs.
        with m.If(a_valid & (a_c == C - 1)):
            m.d.sync += m_acc[a_g].eq(fmax_value(m_acc[a_g], new_score, acc))
        with m.If(w_valid & w_alpha):
            m.d.sync += alpha[w_g].eq(wide)
        # A rescale at c == 0 also scales l; the V phase adds P at c == 0.
        with m.If(r_valid & (r_c == 0)):
            m.d.sync += l_acc[r_g].eq(scaled_l)
        with m.If(va_valid & (va_c == 0)):
            m.d.sync += l_acc[va_g].eq(l_sum)

        # -- sequencer ---------------------------------------------------------------
        def after_drain(*then):
            """Pipelines empty before the next phase."""
            after_countdown(m, drain, *then)

        def take_column(active):
            """At g == 0 of an active slot, take the next KV column (held for the other heads);
            returns whether the slot can go ahead this cycle."""
            need = active & (g == 0)
            m.d.comb += self.kv.ready.eq(need)
            with m.If(need & self.kv.valid):
                m.d.sync += column.eq(self.kv.payload)
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
                    m.d.sync += [n_tokens.eq(self.cmd.payload.tokens), group.eq(self.cmd.payload.group),
                                 blk_start.eq(0), g.eq(0), c.eq(0), phase.eq(Phase.CLEAR)]
                    for i in range(heads):
                        m.d.sync += [m_run[i].eq(neg_inf), l_acc[i].eq(0)]
            with m.Case(Phase.CLEAR):                       # O = +0 for every head and chunk
                step_heads_chunks(phase.eq(Phase.LOADQ))
            with m.Case(Phase.LOADQ):                       # G·C query vectors, head-major
                m.d.comb += [self.q.ready.eq(1), q_wr.addr.eq(g * C + c), q_wr.data.eq(self.q.payload),
                             q_wr.en.eq(self.q.valid)]
                with m.If(self.q.valid):
                    step_heads_chunks(phase.eq(Mux(n_tokens == 0, Phase.GATHER, Phase.BLOCK)))
            with m.Case(Phase.BLOCK):
                left = n_tokens - blk_start
                m.d.sync += [blk_len.eq(Mux(left > B, B, left)), t.eq(0), c.eq(0), g.eq(0), slot.eq(0),
                             phase.eq(Phase.K)]
                for i in range(heads):
                    m.d.sync += m_acc[i].eq(m_run[i])
            with m.Case(Phase.K):                           # chunk-major passes over the block
                real = slot < blk_len * group
                go = take_column(real)
                m.d.comb += k_issue.eq(real & go)
                with m.If(go):
                    pass_len = Mux(blk_len * group > MIN_PASS, blk_len * group, MIN_PASS)
                    with m.If(slot + 1 == pass_len):
                        m.d.sync += [slot.eq(0), t.eq(0), g.eq(0)]
                        with m.If(c == C - 1):
                            m.d.sync += [c.eq(0), drain.eq(dl + FADD_LATENCY + 1), phase.eq(Phase.K_DRAIN)]
                        with m.Else():
                            m.d.sync += c.eq(c + 1)
                    with m.Else():
                        m.d.sync += slot.eq(slot + 1)
                        with m.If(real):
                            with m.If(last_g):
                                m.d.sync += [g.eq(0), t.eq(t + 1)]
                            with m.Else():
                                m.d.sync += g.eq(g + 1)
            with m.Case(Phase.K_DRAIN):
                after_drain(t.eq(0), g.eq(0), p_is_alpha.eq(1), phase.eq(Phase.P))
            with m.Case(Phase.P):                           # G alphas, then Bt·G probabilities
                m.d.comb += [p_issue.eq(1)]
                with m.If(last_g):
                    m.d.sync += g.eq(0)
                    with m.If(p_is_alpha):
                        m.d.sync += [p_is_alpha.eq(0), t.eq(0)]
                    with m.Elif(t + 1 == blk_len):
                        m.d.sync += [drain.eq(pl + FCONVERT_LATENCY + 1), phase.eq(Phase.P_DRAIN)]
                    with m.Else():
                        m.d.sync += t.eq(t + 1)
                with m.Else():
                    m.d.sync += g.eq(g + 1)
            with m.Case(Phase.P_DRAIN):
                after_drain(g.eq(0), c.eq(0), phase.eq(Phase.RESCALE), *(m_run[i].eq(m_acc[i]) for i in range(heads)))
            with m.Case(Phase.RESCALE):                     # O·α for every row, l·α at c == 0
                m.d.comb += r_issue.eq(1)
                step_heads_chunks(drain.eq(FMUL_LATENCY + 1), phase.eq(Phase.R_DRAIN))
            with m.Case(Phase.R_DRAIN):
                after_drain(t.eq(0), c.eq(0), g.eq(0), phase.eq(Phase.V))
            with m.Case(Phase.V):                           # token-major: t, then c, then g
                go = take_column(Const(1))
                m.d.comb += v_issue.eq(go)
                with m.If(go):
                    with m.If(last_g):
                        m.d.sync += g.eq(0)
                        with m.If(c == C - 1):
                            m.d.sync += c.eq(0)
                            with m.If(t + 1 == blk_len):
                                m.d.sync += [drain.eq(FMUL_LATENCY + FADD_LATENCY + 1), phase.eq(Phase.V_DRAIN)]
                            with m.Else():
                                m.d.sync += t.eq(t + 1)
                        with m.Else():
                            m.d.sync += c.eq(c + 1)
                    with m.Else():
                        m.d.sync += g.eq(g + 1)
            with m.Case(Phase.V_DRAIN):
                after_drain(blk_start.eq(blk_start + blk_len), t.eq(0), c.eq(0), g.eq(0),
                            phase.eq(Mux(blk_start + blk_len < n_tokens, Phase.BLOCK, Phase.GATHER)))
            with m.Case(Phase.GATHER):                      # read head g's O rows into the output register
                with m.If(c == C - 1):
                    m.d.sync += [c.eq(0), phase.eq(Phase.SEND)]
                with m.Else():
                    m.d.sync += c.eq(c + 1)
                with m.Switch(c):
                    for i in range(C):
                        with m.Case(i):
                            m.d.sync += self.part.payload.o.as_value()[i * W * acc.width:(i + 1) * W * acc.width].eq(
                                o_rd.data.as_value())
                m.d.sync += [self.part.payload.m.eq(m_run[g]), self.part.payload.l.eq(l_acc[g])]
            with m.Case(Phase.SEND):
                m.d.comb += self.part.valid.eq(1)
                with m.If(self.part.ready):
                    with m.If(last_g):
                        m.d.sync += [g.eq(0), phase.eq(Phase.IDLE)]
                    with m.Else():
                        m.d.sync += [g.eq(g + 1), phase.eq(Phase.GATHER)]
        return m
