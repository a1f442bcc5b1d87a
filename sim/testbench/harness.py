"""A Verilog job harness around a design: the clock, the stimulus and the log in HDL, no Python per cycle.

The harness ``<dut>_job`` wraps a design that takes commands on one stream
(``cmd``) and reads its whole job from a text file at time 0
(``+pam_job=PATH``)::

    n_commands n_outputs seed n_resets limit idle stall status_stall n_expected
    reset_0                    (n_resets lines: the job cycles at which it is reset)
    ...
    gate_0 checkpoint_0 word_0 (word in hex)
    ...
    expected_0                 (hex)
    ...

Command i is held back until ``gate_i`` output words have left the design
(the next decode step needs the last one's output), then presented
valid-until-ready. The pause generators: with ``seed`` != 0, three xorshift32
streams add an idle cycle before a command and take ``ready`` away from the
output and the status streams, each cycle with its probability (``Pauses``;
in the file, thresholds on the 32-bit word). The scoreboard: output word i is
compared with ``expected_i`` as it leaves the design (for i < n_expected); the
first mismatch is logged with its cycle and ends the job.

Mid-run resets: the design is reset at each job cycle ``reset_k`` (counted
from time 0 over every pass, increasing), for two cycles (memories keep their
contents); the pause streams
start again from the seed, and play resumes at the *resume point*: the last
checkpoint c (command 0 always is one; ``checkpoint_i`` = 1 marks others)
whose commands before it have all had their status and whose gate is met
(``gate_c`` outputs have left). The host's protocol makes such a point safe:
a checkpoint starts a block of commands that sets up again everything a
reset clears. The log gets ``R cycle c gate_c``; the outputs and statuses
from c on are played again. ``limit`` bounds the cycles of each pass.

The log (``+pam_log=PATH``) gets one line per event, with the cycle counted
from the end of the pass's reset: ``O cycle hex`` per output word, ``S hex``
per status word, ``A cycle hex hex ...`` whenever a monitored port changes,
``M cycle index got expected`` for a scoreboard mismatch, ``C name hex`` per
counter at the end, then ``D cycles`` (or ``T cycles`` past the limit). ``done`` rises then: a cocotb test awaits it once, and a
plain C++ main (``sim/verilator/raw_main.cpp``) stops on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from amaranth import Value
from amaranth.lib import wiring

__all__ = ["HarnessPorts", "Pauses", "job_harness", "parse_log", "write_job", "JobLog", "Mismatch"]


@dataclasses.dataclass(frozen=True)
class Pauses:
    """Per-cycle probabilities of the harness's pause generators: an idle cycle before a command
    (``idle``), ``ready`` taken from the output stream (``stall``) and from the status stream
    (``status_stall``). They act only when the job has a seed."""
    idle: float = 0.0
    stall: float = 0.0
    status_stall: float = 0.0

    def __post_init__(self):
        for name in ("idle", "stall", "status_stall"):
            p = getattr(self, name)
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{name}: a pause probability must lie in [0, 1), not {p}")

    def thresholds(self) -> tuple[int, int, int]:
        """The probabilities as thresholds on a 32-bit xorshift word, as the job file holds them."""
        return tuple(int(p * 2**32) for p in (self.idle, self.stall, self.status_stall))

    @property
    def active(self) -> bool:
        return any((self.idle, self.stall, self.status_stall))


@dataclasses.dataclass(frozen=True)
class HarnessPorts:
    """Which ports of the design the harness drives and records.

    cmd : the command stream (``In``); out : the output stream whose words are logged (``Out``), or None;
    status : a stream with one word per command (``Out``), or None; monitors : ports whose every change is
    logged with its cycle; counters : ports read once at the end; done : a port that must be high (after the
    last command) before the job ends, or None."""
    cmd: str = "cmd"
    out: str | None = "out"
    status: str | None = None
    monitors: tuple[str, ...] = ()
    counters: tuple[str, ...] = ()
    done: str | None = None


def _ports(component: wiring.Component) -> dict[str, tuple[int, bool]]:
    ports = {}
    for path, member, value in component.signature.flatten(component):
        ports["__".join(str(p) for p in path)] = (len(Value.cast(value)), member.flow == wiring.In)
    return ports


def job_harness(component: wiring.Component, dut: str, ports: HarnessPorts) -> tuple[str, str]:
    """Verilog text and module name of ``<dut>_job``: ``dut`` under the job player (module docstring)."""
    sig = _ports(component)

    def need(name: str, inp: bool) -> int:
        if name not in sig or sig[name][1] != inp:
            raise ValueError(f"{dut} has no {'input' if inp else 'output'} port {name!r}")
        return sig[name][0]

    cmd_w = need(f"{ports.cmd}__payload", True)
    need(f"{ports.cmd}__valid", True), need(f"{ports.cmd}__ready", False)
    streams = [(s, need(f"{s}__payload", False)) for s in (ports.out, ports.status) if s]
    out_w = dict(streams).get(ports.out, 1)
    for s, _ in streams:
        need(f"{s}__valid", False), need(f"{s}__ready", True)
    watched = [(n, need(n, False)) for n in (*ports.monitors, *ports.counters, *([ports.done] if ports.done else []))]
    driven = {f"{ports.cmd}__payload", f"{ports.cmd}__valid", *(f"{s}__ready" for s, _ in streams), "rst"}
    for name, (width, inp) in sig.items():
        if inp and name not in driven:
            raise ValueError(f"{dut}: input port {name!r} is not a stream the harness drives")
    top = f"{dut}_job"
    decl = []
    for name, (width, inp) in sig.items():
        kind = "reg" if inp else "wire"
        decl.append(f"  {kind} [{width - 1}:0] d_{name};")
    conns = ",\n".join(f"    .{name}({name if name in ('clk', 'rst') else 'd_' + name})" for name in ["clk", "rst", *sig])
    out_name, status_name = ports.out, ports.status
    mon = ", ".join(f"d_{n}" for n in ports.monitors)
    lines = [f"""// Generated by sim/testbench/harness.py: the job player around {dut} (see that module's docstring).
module {top}(clk, done);
  output reg clk = 1'b0;
  output reg done = 1'b0;
  always #1 clk = ~clk;
  reg rst = 1'b1;
{chr(10).join(decl)}
  {dut} dut (
{conns}
  );
  // The harness's own state is not traced: only the design's port nets above.
  /*verilator tracing_off*/
  localparam W = {cmd_w};
  localparam OW = {out_w};
  reg [W-1:0] words[$];
  reg [OW-1:0] expected_words[$];
  integer gates[$], resets[$], ck_next[$];
  integer n_cmds, n_out, n_resets, limit, n_expect, fd, log, i, g, ck, r, ck_after;
  reg [31:0] seed, r_idle, r_out, r_st, t_idle, t_out, t_st;
  reg [W-1:0] w;
  reg [OW-1:0] e;
  string job_path, log_path;
  initial begin
    if (!$value$plusargs("pam_job=%s", job_path)) $fatal(1, "{top}: +pam_job=PATH is missing");
    if (!$value$plusargs("pam_log=%s", log_path)) $fatal(1, "{top}: +pam_log=PATH is missing");
    fd = $fopen(job_path, "r");
    if (fd == 0) $fatal(1, "{top}: cannot open the job file %s", job_path);
    if ($fscanf(fd, "%d %d %d %d %d %d %d %d %d\\n", n_cmds, n_out, seed, n_resets, limit, t_idle, t_out, t_st,
                n_expect) != 9)
      $fatal(1, "{top}: bad job header in %s", job_path);
    for (i = 0; i < n_resets; i = i + 1) begin
      if ($fscanf(fd, "%d\\n", r) != 1) $fatal(1, "{top}: reset %0d unreadable", i);
      resets.push_back(r);
    end
    for (i = 0; i < n_cmds; i = i + 1) begin
      if ($fscanf(fd, "%d %d %h\\n", g, ck, w) != 3) $fatal(1, "{top}: job command %0d unreadable", i);
      gates.push_back(g);
      ck_next.push_back(ck);
      words.push_back(w);
    end
    // ck_next[i]: the first checkpoint after command i (n_cmds if none).
    ck = n_cmds;
    for (i = n_cmds - 1; i >= 0; i = i - 1) begin
      g = ck_next[i];
      ck_next[i] = ck;
      if (g != 0) ck = i;
    end
    ck_after = n_cmds > 0 ? ck_next[0] : 0;
    for (i = 0; i < n_expect; i = i + 1) begin
      if ($fscanf(fd, "%h\\n", e) != 1) $fatal(1, "{top}: expected output %0d unreadable", i);
      expected_words.push_back(e);
    end
    $fclose(fd);
    log = $fopen(log_path, "w");
    if (log == 0) $fatal(1, "{top}: cannot write the log %s", log_path);
  end
  // xorshift32 streams: idle before a command, output stall, status stall.
  function automatic [31:0] xs(input [31:0] x);
    reg [31:0] y;
    begin
      y = x ^ (x << 13);
      y = y ^ (y >> 17);
      xs = y ^ (y << 5);
    end
  endfunction
  integer cycle = 0, job_cycle = 0, held = 0, idx = 0, outs = 0, stats = 0, passes = 0, resume = 0;
  reg random_on = 1'b0, mismatch = 1'b0, resetting;
  reg [{max(1, sum(w for _, w in watched[:len(ports.monitors)])) - 1}:0] last_mon;
  reg mon_seen = 1'b0;
  always @(posedge clk) begin
    job_cycle <= job_cycle + 1;
    if (rst) begin
      held <= held + 1;
      d_{ports.cmd}__valid <= 1'b0;
      if (held == 1) begin
        rst <= 1'b0;
        cycle <= 0;
        idx <= resume;
        outs <= n_cmds > 0 ? gates[resume] : 0;
        stats <= resume;
        mon_seen <= 1'b0;
        random_on <= seed != 0;
        r_idle <= seed ^ 32'h9e3779b9;
        r_out <= seed ^ 32'h85ebca6b;
        r_st <= seed ^ 32'hc2b2ae35;
      end
    end else begin
      cycle <= cycle + 1;
      resetting = passes < n_resets && job_cycle == resets[passes];
      // The resume point moves to the next checkpoint once every command before it has its status (or,
      // without a status stream, was taken) and its gate is met.
      if (!resetting && ck_after < n_cmds && ck_after <= {'stats' if ports.status else 'idx'} && outs >= gates[ck_after]) begin
        resume <= ck_after;
        ck_after <= ck_next[ck_after];
      end
      r_idle <= xs(r_idle);
      r_out <= xs(r_out);
      r_st <= xs(r_st);"""]
    for s, _ in streams:
        r, t = ("r_out", "t_out") if s == out_name else ("r_st", "t_st")
        lines.append(f"      d_{s}__ready <= !random_on || (xs({r}) >= {t});")
    if out_name:
        lines.append(f"""      if (d_{out_name}__valid && d_{out_name}__ready) begin
        $fwrite(log, "O %0d %h\\n", cycle, d_{out_name}__payload);
        // The in-order scoreboard: the first word that differs from the expected one ends the job.
        if (outs < n_expect && !mismatch && d_{out_name}__payload != expected_words[outs]) begin
          $fwrite(log, "M %0d %0d %h %h\\n", cycle, outs, d_{out_name}__payload, expected_words[outs]);
          mismatch <= 1'b1;
        end
        outs <= outs + 1;
      end""")
    if status_name:
        lines.append(f"""      if (d_{status_name}__valid && d_{status_name}__ready) begin
        $fwrite(log, "S %h\\n", d_{status_name}__payload);
        stats <= stats + 1;
      end""")
    if ports.monitors:
        fmt = " ".join("%h" for _ in ports.monitors)
        lines.append(f"""      if (!mon_seen || {{{mon}}} != last_mon) begin
        $fwrite(log, "A %0d {fmt}\\n", cycle, {mon});
        last_mon <= {{{mon}}};
        mon_seen <= 1'b1;
      end""")
    take = f"d_{ports.cmd}__valid && d_{ports.cmd}__ready"
    lines.append(f"""      // The next command goes out when the slot is free, its gate is open and no idle cycle is drawn.
      if (!d_{ports.cmd}__valid || d_{ports.cmd}__ready) begin
        if (idx + ({take} ? 1 : 0) < n_cmds && outs >= gates[idx + ({take} ? 1 : 0)]
            && !(random_on && xs(r_idle) < t_idle)) begin
          d_{ports.cmd}__valid <= 1'b1;
          d_{ports.cmd}__payload <= words[idx + ({take} ? 1 : 0)];
        end else
          d_{ports.cmd}__valid <= 1'b0;
      end
      if ({take}) idx <= idx + 1;
      if (resetting) begin
        passes <= passes + 1;
        rst <= 1'b1;
        held <= 0;
        $fwrite(log, "R %0d %0d %0d\\n", cycle, resume, n_cmds > 0 ? gates[resume] : 0);   // the pass's cycle
      end else if (!done && (mismatch || idx == n_cmds && outs >= n_out{' && stats >= n_cmds' if status_name else ''}"""
                 f"""{f' && d_{ports.done}' if ports.done else ''})) begin""")
    for name in ports.counters:
        lines.append(f"""        $fwrite(log, "C {name} %h\\n", d_{name});""")
    lines.append("""        $fwrite(log, "D %0d\\n", cycle);
        $fflush(log);
        done <= 1'b1;
      end else if (!done && cycle > limit) begin
        $fwrite(log, "T %0d\\n", cycle);
        $fflush(log);
        done <= 1'b1;
      end
    end
  end
endmodule
""")
    return "\n".join(lines), top


def write_job(path, words: list[int], gates: list[int], outputs: int, seed: int | None = None,
              resets: Sequence[int] = (), limit: int = 10_000_000, pauses: Pauses = Pauses(),
              expected: list[int] | None = None, checkpoints: Sequence[int] = ()) -> None:
    """Write a job file for the harness: ``words`` with their ``gates`` (outputs to wait for), the pause
    generators' probabilities (they act only with a ``seed``), the words the scoreboard expects, the job
    cycles at which the design is reset, and the commands at which play may resume (``checkpoints``)."""
    if len(words) != len(gates):
        raise ValueError(f"{len(words)} words but {len(gates)} gates")
    expected = [] if expected is None else list(expected)
    if len(expected) > outputs:
        raise ValueError(f"expected: {len(expected)} words for a job of {outputs} outputs")
    if any(int(r) < 1 for r in resets) or any(b <= a + 2 for a, b in zip(resets, resets[1:])):
        raise ValueError(f"resets: job cycles from 1, each more than 2 after the last (a reset takes 2), "
                         f"not {list(resets)}")
    if any(not 0 <= c < len(words) for c in checkpoints):
        raise ValueError(f"checkpoints: command indices lie in 0..{len(words) - 1}")
    seed = 0 if seed is None else (int(seed) & 0xFFFFFFFF) or 1
    idle, stall, status_stall = pauses.thresholds()
    marked = set(checkpoints)
    with open(path, "w") as f:
        f.write(f"{len(words)} {outputs} {seed} {len(resets)} {int(limit)} {idle} {stall} {status_stall} "
                f"{len(expected)}\n")
        f.writelines(f"{int(r)}\n" for r in resets)
        f.writelines(f"{g} {int(i in marked)} {w:x}\n" for i, (g, w) in enumerate(zip(gates, words)))
        f.writelines(f"{w:x}\n" for w in expected)


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """The scoreboard's first mismatch: output word ``index`` left the design at ``cycle`` as ``got``."""
    cycle: int
    index: int
    got: int
    expected: int


@dataclasses.dataclass
class JobLog:
    """What the harness logged. After mid-run resets: the outputs and statuses before the last resume point,
    then those the last pass played (an output keeps the cycle of the pass that logged it); the monitors'
    changes and ``cycles`` of the last pass only."""
    outputs: list[tuple[int, int]]             # (cycle, word)
    statuses: list[int]
    changes: list[tuple[int, ...]]             # (cycle, monitor values ...)
    counters: dict[str, int]
    cycles: int
    timed_out: bool
    mismatch: Mismatch | None = None
    resumes: list[int] = dataclasses.field(default_factory=list)   # per mid-run reset: the command play resumed at

    @property
    def resets(self) -> int:
        return len(self.resumes)


def parse_log(path) -> JobLog:
    outputs, statuses, changes, counters, cycles, timed_out, mismatch = [], [], [], {}, None, False, None
    resumes = []
    with open(path) as f:
        for line in f:
            kind, *rest = line.split()
            if kind == "O":
                outputs.append((int(rest[0]), int(rest[1], 16)))
            elif kind == "S":
                statuses.append(int(rest[0], 16))
            elif kind == "A":
                changes.append((int(rest[0]), *(int(x, 16) for x in rest[1:])))
            elif kind == "C":
                counters[rest[0]] = int(rest[1], 16)
            elif kind == "M":
                mismatch = Mismatch(int(rest[0]), int(rest[1]), int(rest[2], 16), int(rest[3], 16))
            elif kind == "R":                   # R cycle resume gate: play resumes at command resume
                resume, gate = int(rest[1]), int(rest[2])
                outputs, statuses, changes = outputs[:gate], statuses[:resume], []
                resumes.append(resume)
            elif kind in "DT":
                cycles, timed_out = int(rest[0]), kind == "T"
    if cycles is None:
        raise RuntimeError(f"harness log {path} has no end line: the simulation stopped early")
    return JobLog(outputs, statuses, changes, counters, cycles, timed_out, mismatch, resumes)
