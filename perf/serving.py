"""Request-level serving simulation: continuous batching as vLLM does it.

Requests arrive as a seeded Poisson stream (online) or stand ready in a pool
(offline), with lengths from :func:`perf.workloads.lengths`. The engine
runs step after step:

* **admission**, first come first served: a request starts when the running
  sequences are fewer than ``serving.max_running`` and the system's free KV
  holds its prompt (the KV capacity of the tiers the system uses);
* **chunked prefill**: each engine step carries up to
  ``serving.prefill_chunk_tokens`` prompt tokens of the admitted requests,
  oldest first, batched with the decodes; a request's first token comes out
  of the step that ends its prompt;
* **decode**: every running request whose prompt is in gains one token per
  step; the step's time is the node model's decode step
  (:func:`perf.node.step`) at the running batch and its mean context,
  plus the prefill chunk's extra GPU time (its dense FLOPs over the weights
  the decodes already stream, and its causal attention FLOPs);
* **preemption**: when the growing KV no longer fits, the latest admitted
  request is preempted (vLLM's recompute: its KV is dropped and its prompt
  plus the tokens it had produced are prefilled again when it is readmitted).

Steps between events (an arrival, a prompt done, a request done) are
identical but for the context growing by one token, so the simulator takes
them together, at the step time of their middle context.

It reports time to first token (TTFT) and time per output token (TPOT: a
request's (last token − first token) / (outputs − 1)), each as mean, p50, p90
and p99 over the requests of a *window* of arrivals (default the middle 80%;
:func:`peak_under_slo` sets its own), throughput, the mean running batch,
the flash bytes written per second, and for how long admission was blocked by
the running cap or by the KV capacity.

**Peak throughput under an SLO**, as a serving benchmark states it: the
output tokens per second the engine makes while the window's requests arrive,
at the highest Poisson arrival rate whose run keeps up (at most 0.5% of the
requests still wait for admission or prefill at the last arrival) with a p99
TPOT over the window's requests within the SLO. A run is long enough to be
steady: its warm-up and its drain each last one request lifetime bound (the
mean output length times the largest SLO: a request that meets the SLO lives
no longer, on average), and its window holds ``serving.window_requests``
requests. The search brackets
the rate by widening from a first guess (:func:`service_limit`, a guess and
never a cap) until the top fails, then bisects to ``RESOLUTION``. The next rate
up is reported with the limit that failed it: the SLO (it kept up, too slowly),
the KV capacity or the running cap (admission was blocked by it most of the
run), or the load (neither: the engine's steps are the bottleneck).
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import heapq
import math

import numpy as np

from perf.node import (SYSTEMS, Model, Node, dense_layer_s, gpu_roofline_s, prompt_write_s, step as node_step,
                       stored_bytes_per_token, vllm_kv_tiers)

__all__ = ["LIMITS", "RequestState", "RequestTooLong", "ServingResult", "StepTimer", "kv_capacity_tokens", "peak_under_slo",
           "poisson_arrivals", "service_limit", "simulate"]

CONTEXT_GRID = 1.02            # the step-time cache's geometric context (and batch) grid (linear in between)
EXACT_BATCH = 64               # batches up to this are stepped exactly; larger ones on the grid
BACKLOG = 0.005                # an engine keeps up when at most this share of the requests waits at the last arrival
RESOLUTION = 0.01              # the peak search stops when the bracket's top is within 1% of its bottom
BLOCKED = 0.5                  # admission blocked this share of a run by the cap or the KV names that limit
LIMITS = ("SLO", "load", "KV capacity", "running cap")


def kv_capacity_tokens(node: Node, model: Model, system: str) -> int:
    """Tokens of KV the system can hold: its tiers' capacities (vLLM: the preset's KV home)."""
    gpu = SYSTEMS[system].get("gpu")
    tiers = vllm_kv_tiers(node) if gpu else SYSTEMS[system]["tiers"]
    per_token = stored_bytes_per_token(node, model, not gpu and SYSTEMS[system]["sparse"])
    return int(sum(node.kv_capacity(t, model) for t in tiers) // per_token)


class RequestTooLong(ValueError):
    """A request whose tokens exceed the KV capacity of the system: no rate serves it."""


class StepTimer:
    """Engine step times of one (node, model, system): the decode step from the node model, cached on a
    geometric context grid and interpolated linearly, with its flash writes and where its KV sits; and the
    prefill chunk's extra time."""

    def __init__(self, node: Node, model: Model, system: str):
        self.node, self.model, self.system = node, model, system
        self._cache: dict[tuple[int, int], tuple] = {}
        self._dense: dict[int, float] = {}
        self._home = (0.0, 1.0, 0.0) if SYSTEMS[system].get("gpu") and node.vllm["kv_home"] == "host" else None
        self._writes: dict[tuple, tuple[float, float]] = {}
        self._attention_s_per_token_position = gpu_roofline_s(
            node, 4 * model.head_dim * model.q_heads * model.layers, 0.0)     # causal attention: linear in FLOPs
        self._log_grid = math.log(CONTEXT_GRID)

    def _at(self, batch: int, k: int) -> tuple:
        key = (batch, k)
        if key not in self._cache:
            r = node_step(self.node, self.model, self.system, batch, CONTEXT_GRID ** k)
            self._cache[key] = ((r.step_s, r.flash_write_bytes, r.tokens_share) if r.fits
                                else (math.nan, math.nan, None))
        return self._cache[key]

    def decode(self, batch: int, context: float) -> tuple[float, float, tuple]:
        """One decode step of ``batch`` requests of mean context ``context``: (seconds, flash bytes written,
        the KV's shares in HBM, DDR, SSD). Batches above ``EXACT_BATCH`` interpolate linearly between the
        points of a geometric grid (``CONTEXT_GRID``'s ratio) around them."""
        if batch <= EXACT_BATCH:
            return self._decode_at(batch, context)
        j = math.floor(math.log(batch / EXACT_BATCH) / self._log_grid)
        b0 = min(batch, round(EXACT_BATCH * CONTEXT_GRID ** j))
        b1 = max(batch, round(EXACT_BATCH * CONTEXT_GRID ** (j + 1)))
        lo = self._decode_at(b0, context)
        if b1 == b0:
            return lo
        try:
            hi = self._decode_at(b1, context)
        except ValueError:              # the grid's upper batch overflows the tiers: the lower one alone
            return lo
        w = (batch - b0) / (b1 - b0)
        return lo[0] + (hi[0] - lo[0]) * w, lo[1] + (hi[1] - lo[1]) * w, lo[2]

    def _decode_at(self, batch: int, context: float) -> tuple[float, float, tuple]:
        x = math.log(max(context, 1.0)) / self._log_grid
        k = math.floor(x)
        lo, hi = self._at(batch, k), self._at(batch, k + 1)
        if math.isnan(hi[0]):           # the grid's upper point overflows the tiers: the lower one alone
            hi = lo
        if math.isnan(lo[0]):
            raise ValueError(f"{self.system}: {batch} requests of context {context:.0f} do not fit")
        w = x - k
        return lo[0] + (hi[0] - lo[0]) * w, lo[1] + (hi[1] - lo[1]) * w, lo[2]

    def decode_s(self, batch: int, context: float) -> float:
        """One decode step of ``batch`` requests of mean context ``context``."""
        return self.decode(batch, context)[0] if batch else 0.0

    def _dense_s(self, tokens: int) -> float:
        if tokens not in self._dense:
            self._dense[tokens] = self.model.layers * dense_layer_s(self.node, self.model, tokens)
        return self._dense[tokens]

    def prefill(self, batch: int, tokens: int, context: float, shares: tuple | None) -> tuple[float, float]:
        """Extra time of ``tokens`` prompt tokens at mean position ``context`` batched with ``batch`` decodes,
        and the flash bytes they write: the dense work over weights the decode step already reads (all of it
        when no decode runs), the causal attention's FLOPs (4·d per query head, layer and earlier token), or,
        if longer, writing their KV into the tiers where the batch's KV sits (``shares``; None: HBM)."""
        if tokens == 0:
            return 0.0, 0.0
        dense = self._dense_s(batch + tokens) - (self._dense_s(batch) if batch else 0.0)
        attention = tokens * context * self._attention_s_per_token_position
        key = (self._home or shares or (1.0, 0.0, 0.0), tokens)
        if key not in self._writes:
            self._writes[key] = prompt_write_s(self.node, self.model, *key)
        write, flash = self._writes[key]
        return max(dense + attention, write), flash

    def prefill_s(self, batch: int, tokens: int, context: float) -> float:
        """:meth:`prefill`'s time, the prompt's KV written where the batch's sits."""
        shares = self.decode(batch, context)[2] if batch else None
        return self.prefill(batch, tokens, context, shares)[0]


@dataclasses.dataclass(frozen=True)
class ServingResult:
    system: str
    rate: float                   # arrivals per second (offline: 0)
    throughput: float             # output tokens per second (online: the window's requests over its span)
    backlog: int                  # requests waiting for admission or prefill at the last arrival
    ttft_s: dict                  # mean, p50, p90, p99
    tpot_s: dict
    mean_batch: float             # decoding requests per step, time-weighted
    preemptions: int
    steps: int
    requests: int
    window: int = 0               # requests whose figures are reported
    flash_write_bytes_s: float = 0.0    # flash bytes written per second (migrations, new and prompt tokens)
    blocked: dict = dataclasses.field(default_factory=dict)   # "running cap"/"KV capacity" -> share of the run

    @property
    def keeps_up(self) -> bool:
        return self.backlog <= BACKLOG * self.requests

    def meets(self, slo_s: float) -> bool:
        return self.keeps_up and self.tpot_s["p99"] <= slo_s


def _stats(values: np.ndarray) -> dict:
    if values.size == 0:
        return {"mean": math.nan, "p50": math.nan, "p90": math.nan, "p99": math.nan}
    p50, p90, p99 = np.percentile(values, (50, 90, 99))
    return {"mean": float(values.mean()), "p50": float(p50), "p90": float(p90), "p99": float(p99)}


class RequestState(enum.Enum):
    """Where a request of :func:`simulate` stands."""

    WAITING = "waiting"           # not arrived yet, or arrived and waiting for admission (again after a preemption)
    FILLING = "filling"           # admitted: its prompt is being prefilled
    DECODING = "decoding"         # making one token per engine step
    FINISHED = "finished"


class _Engine:
    """One :func:`simulate` run: the requests' progress, the queues and the engine's clock and counters.

    A decoding request has made ``g - base[i]`` tokens after ``g`` decode steps; ``made[i]`` keeps the count
    of a request that is not decoding. ``b`` requests decode, holding ``context_sum`` tokens of KV between
    them; the requests being prefilled hold ``reserved`` tokens (their whole prompts, reserved at admission)."""

    def __init__(self, timer: StepTimer, inputs: np.ndarray, outputs: np.ndarray, arrivals: np.ndarray,
                 max_running: int | None, window: slice | None):
        node, model = timer.node, timer.model
        serving = node.serving
        self.timer = timer
        self.cap_running = max_running or serving["max_running"]
        self.chunk = serving["prefill_chunk_tokens"]
        self.capacity = capacity = kv_capacity_tokens(node, model, timer.system)
        n = len(inputs)
        if not (len(outputs) == len(arrivals) == n) or n < 10:
            raise ValueError(f"need at least 10 requests with one input, output and arrival each, not {n}")
        if int(np.max(inputs + outputs)) > capacity:
            raise RequestTooLong(f"{timer.system}: a request of {int(np.max(inputs + outputs))} tokens exceeds the KV "
                             f"capacity of {capacity} tokens")
        self.n, self.outputs, self.arrivals = n, outputs, arrivals
        self.inp, self.outs, self.arr = inputs.tolist(), outputs.tolist(), arrivals.tolist()
        self.prompt = list(self.inp)                  # tokens to prefill (grows on preemption: recompute)
        self.done = [0] * n                           # prompt tokens prefilled so far
        self.base = [0] * n
        self.made = [0] * n
        self.state = [RequestState.WAITING] * n
        self.first, self.finish = [math.nan] * n, [math.nan] * n
        self.waiting: collections.deque[int] = collections.deque()
        self.running: dict[int, None] = {}            # admission order (a dict: O(1) removal)
        self.filling: list[int] = []
        self.ends: list[tuple[int, int]] = []         # heap of (g at which it finishes, request)
        self.g = self.b = self.context_sum = self.reserved = 0
        self.next_arrival, self.now, self.preemptions, self.steps, self.batch_time = 0, 0.0, 0, 0, 0.0
        self.backlog: int | None = None               # requests not through their prompt at the last arrival
        self.window = window or slice(n // 10, n - n // 10)
        self.span = (self.arr[self.window.start], self.arr[self.window.stop - 1])   # the window's arrivals
        self.served = 0.0                             # tokens made inside ``span``
        self.flash_bytes = 0.0
        self.blocked_by: str | None = None            # what stopped the last admission with requests waiting
        self.blocked_s = {"running cap": 0.0, "KV capacity": 0.0}

    # -- the steps of the engine's loop -------------------------------------------------------------------

    def admit(self) -> bool:
        """Queue the requests that have arrived and admit them first come first served while fewer than
        ``max_running`` run and the free KV holds the next one's prompt; with nothing running, move the clock
        to the next arrival. False once every request is done."""
        while True:
            while self.next_arrival < self.n and self.arr[self.next_arrival] <= self.now:
                self.waiting.append(self.next_arrival)
                self.next_arrival += 1
            waiting, prompt = self.waiting, self.prompt
            while (waiting and len(self.running) < self.cap_running
                   and self.context_sum + self.reserved + prompt[waiting[0]] <= self.capacity):
                i = waiting.popleft()
                self.running[i] = None
                self.filling.append(i)
                self.state[i] = RequestState.FILLING
                self.reserved += prompt[i]
            self.blocked_by = None if not waiting else (
                "running cap" if len(self.running) >= self.cap_running else "KV capacity")
            if self.next_arrival == self.n and self.backlog is None:
                self.backlog = len(waiting) + len(self.filling)        # arrived, not yet through their prompt
            if self.running:
                return True
            if self.next_arrival >= self.n:
                return False
            self.now = max(self.now, self.arr[self.next_arrival])

    def preempt(self) -> None:
        """Preempt the latest admitted until one more token per decoding request fits. A running request holds
        its whole prompt (reserved at admission) and every token it has made; a preempted one drops its KV and
        waits at the head of the queue to prefill its prompt and those tokens again (recompute)."""
        while self.b and self.context_sum + self.reserved + self.b > self.capacity:
            victim = self.running.popitem()[0]
            if self.state[victim] is RequestState.DECODING:
                self._stop_decoding(victim)
            else:
                self.filling.remove(victim)
                self.reserved -= self.prompt[victim]
            self.prompt[victim] = self.inp[victim] + self.made[victim]
            self.done[victim], self.state[victim] = 0, RequestState.WAITING
            self.waiting.appendleft(victim)
            self.preemptions += 1

    def steps_together(self) -> int:
        """How many engine steps to take at once: one while a prompt is being prefilled, else as many as
        pass before the next event (a request finishes, one arrives that could be admitted, the KV is full)."""
        ends, state, base, outs = self.ends, self.state, self.base, self.outs
        while ends and (state[ends[0][1]] is not RequestState.DECODING
                        or base[ends[0][1]] + outs[ends[0][1]] != ends[0][0]):
            heapq.heappop(ends)                   # stale: preempted since
        if self.filling:
            return 1
        b, k = self.b, ends[0][0] - self.g
        if self.next_arrival < self.n and len(self.running) < self.cap_running:
            next_in = self.arr[self.next_arrival] - self.now
            k = max(1, min(k, math.ceil(next_in / self.timer.decode_s(b, self.context_sum / b))))
        return max(1, min(k, (self.capacity - self.context_sum - self.reserved) // b))

    def engine_steps(self, k: int) -> list[int]:
        """Run ``k`` engine steps: every decoding request makes a token a step, and the first step carries the
        prefill chunk. Returns the requests whose prompt the chunk completes."""
        b = self.b
        dt, flash, shares = self.timer.decode(b, self.context_sum / b + (k - 1) / 2) if b else (0.0, 0.0, None)
        self.flash_bytes += k * flash
        chunk_tokens, chunk_pos, ready = self._prefill_chunk()
        if chunk_tokens:
            extra, flash = self.timer.prefill(b, chunk_tokens, chunk_pos / chunk_tokens, shares)
            dt += extra
            self.flash_bytes += flash
        if self.blocked_by:
            self.blocked_s[self.blocked_by] += k * dt
        t0, t1 = self.span
        overlap = min(t1, self.now + k * dt) - max(t0, self.now)
        if overlap > 0 and dt > 0:                    # this run of steps' tokens, spread evenly over its time
            self.served += (b * k + len(ready)) * overlap / (k * dt)
        self.now += k * dt
        self.steps += k
        self.batch_time += b * k * dt
        self.g += k
        self.context_sum += b * k
        return ready

    def complete(self, ready: list[int]) -> None:
        """A completed prompt makes its request's first (or, after a preemption, next) token and starts it
        decoding; requests that have made all their tokens finish."""
        for i in ready:
            self.filling.remove(i)
            self.reserved -= self.prompt[i]
            if self.made[i] == 0:
                self.first[i] = self.now
            self.made[i] += 1
            if self.made[i] >= self.outs[i]:
                self._finished(i)
            else:
                self._start_decoding(i)
        ends = self.ends
        while ends and ends[0][0] <= self.g:
            _, i = heapq.heappop(ends)
            if self.state[i] is RequestState.DECODING and self.base[i] + self.outs[i] <= self.g:
                self._stop_decoding(i)
                self._finished(i)

    def statistics(self) -> ServingResult:
        """TTFT and TPOT over the window's arrivals, throughput, mean batch (see the module's doc)."""
        n, outputs, arrivals, now = self.n, self.outputs, self.arrivals, self.now
        first, finish = np.array(self.first), np.array(self.finish)
        window = self.window
        lo, hi = window.start, window.stop
        span = self.span[1] - self.span[0]
        if span > 0:                                           # tokens served while the window's requests arrive
            throughput = self.served / span
        else:                                                  # offline: every request ready at once
            throughput = float(outputs.sum()) / now
        multi = lo + np.flatnonzero(outputs[window] > 1)
        tpot = (finish[multi] - first[multi]) / (outputs[multi] - 1)
        ttft = first[window] - arrivals[window]
        return ServingResult(self.timer.system, 0.0, throughput, self.backlog or 0, _stats(ttft), _stats(tpot),
                             self.batch_time / now if now else 0.0, self.preemptions, self.steps, n, hi - lo,
                             self.flash_bytes / now if now else 0.0,
                             {k: v / now if now else 0.0 for k, v in self.blocked_s.items()})

    # -- parts ---------------------------------------------------------------------------------------------

    def _prefill_chunk(self) -> tuple[int, float, list[int]]:
        """Fill up to ``prefill_chunk_tokens`` (less the step's decodes) of the prompts, oldest admitted first:
        (tokens, their summed positions, the requests whose prompt is now complete)."""
        prompt, done = self.prompt, self.done
        budget, chunk_tokens, chunk_pos, ready = max(0, self.chunk - self.b), 0, 0.0, []
        for i in self.filling:
            if budget == 0:
                break
            take = min(budget, prompt[i] - done[i])
            chunk_pos += take * (done[i] + take / 2)
            done[i] += take
            chunk_tokens += take
            budget -= take
            if done[i] == prompt[i]:
                ready.append(i)
        return chunk_tokens, chunk_pos, ready

    def _start_decoding(self, i: int) -> None:
        self.state[i], self.base[i] = RequestState.DECODING, self.g - self.made[i]
        self.b += 1
        self.context_sum += self.inp[i] + self.made[i]
        heapq.heappush(self.ends, (self.base[i] + self.outs[i], i))

    def _stop_decoding(self, i: int) -> None:
        self.made[i] = self.g - self.base[i]
        self.b -= 1
        self.context_sum -= self.inp[i] + self.made[i]

    def _finished(self, i: int) -> None:
        self.finish[i], self.state[i] = self.now, RequestState.FINISHED
        del self.running[i]


def simulate(timer: StepTimer, inputs: np.ndarray, outputs: np.ndarray, arrivals: np.ndarray,
             max_running: int | None = None, window: slice | None = None) -> ServingResult:
    """Serve requests (``inputs``, ``outputs`` tokens) arriving at ``arrivals`` (seconds, non-decreasing); the
    figures are those of the requests in ``window`` (default: the middle 80% of arrivals)."""
    engine = _Engine(timer, inputs, outputs, arrivals, max_running, window)
    while engine.admit():
        engine.preempt()
        engine.complete(engine.engine_steps(engine.steps_together()))
    return engine.statistics()


def poisson_arrivals(rate: float, requests: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 7919])
    return np.cumsum(rng.exponential(1.0 / rate, requests))


def service_limit(timer: StepTimer, inputs: np.ndarray, outputs: np.ndarray) -> tuple[float, int]:
    """A first guess of the arrival rate the engine can serve, and the batch it runs then, to place the peak
    search's first bracket (never to cap it): the running batch at its largest (the cap, or the KV capacity at
    the mean context) makes B / t_step output tokens per second of decode, and each arrival's prompt takes the
    GPU for its tokens' share of a full prefill chunk."""
    node = timer.node
    mean_in, mean_out = float(inputs.mean()), float(outputs.mean())
    batch = int(max(1, min(node.serving["max_running"],
                           kv_capacity_tokens(node, timer.model, timer.system) // (mean_in + mean_out))))
    decode = timer.decode_s(batch, mean_in + mean_out / 2)
    chunk = node.serving["prefill_chunk_tokens"]
    prefill_per_request = timer.prefill_s(batch, chunk, mean_in / 2) / chunk * mean_in
    # rate·mean_out·decode/batch (decode busy share) + rate·prefill_per_request (prefill busy share) <= 1
    return 1.0 / (mean_out * decode / batch + prefill_per_request), batch


def peak_under_slo(timer: StepTimer, requests, slo_s: float, seed: int, lifetime_s: float,
                   window: int | None = None, cache: dict | None = None, start: float | None = None) -> dict:
    """The highest Poisson arrival rate whose run keeps up with a p99 TPOT within ``slo_s`` (the module's doc
    says how), with that run's figures, the next rate up and the limit that failed it.

    ``requests(n)`` gives the first ``n`` requests' (inputs, outputs) of a pool; a run at rate r takes
    ⌈r·lifetime_s⌉ requests of warm-up, ``window`` (default ``serving.window_requests``) measured and
    ⌈r·lifetime_s⌉ of drain. ``start`` (a rate) seeds the bracket, which then widens by 5% at a time
    instead of 2×. ``cache`` (rate -> result) lets the SLOs of one curve share runs."""
    cache = {} if cache is None else cache
    window = window or timer.node.serving["window_requests"]

    def run(rate: float) -> ServingResult:
        key = round(rate, 9)
        if key not in cache:
            warm = math.ceil(rate * lifetime_s)
            n = 2 * warm + window
            inputs, outputs = requests(n)
            r = simulate(timer, inputs, outputs, poisson_arrivals(rate, n, seed), window=slice(warm, warm + window))
            cache[key] = dataclasses.replace(r, rate=rate)
        return cache[key]

    def meets(rate: float) -> bool:
        return run(rate).meets(slo_s)

    if start is None:
        inputs, outputs = requests(window)
        start, factor = service_limit(timer, inputs, outputs)[0], 2.0
    else:
        factor = 1.05
    floor = start / 1e4
    if meets(start):
        lo = start
        for _ in range(60):
            if not meets(lo * factor):
                break
            lo *= factor
        else:
            raise ValueError(f"{timer.system}: no arrival rate up to {lo:.3g} requests/s fails; no limit binds")
        hi = lo * factor
    else:
        hi = start
        while not meets(hi / factor):
            hi /= factor
            if hi < floor:
                r = run(hi)
                return {"rate": 0.0, "throughput": 0.0, "next_rate": hi, "why": f"p99 TPOT "
                        f"{r.tpot_s['p99'] * 1e3:.0f} ms at {hi:.3g} requests/s", "limit": None, **_row(r)}
        lo = hi / factor
    while hi / lo > 1 + RESOLUTION:
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if meets(mid) else (lo, mid)
    best = run(lo)
    return {"rate": lo, "throughput": best.throughput, "next_rate": hi, "why": "", "limit": _limit(run(hi)),
            **_row(best)}


def _limit(failed: ServingResult) -> str:
    """Which limit failed a run that misses its SLO (see the module's doc)."""
    if failed.keeps_up:
        return "SLO"
    name, share = max(failed.blocked.items(), key=lambda item: item[1])
    return name if share >= BLOCKED else "load"


def _row(r: ServingResult) -> dict:
    return {"ttft_ms": {k: v * 1e3 for k, v in r.ttft_s.items()}, "tpot_ms": {k: v * 1e3 for k, v in r.tpot_s.items()},
            "mean_batch": r.mean_batch, "preemptions": r.preemptions, "steps": r.steps, "requests": r.requests,
            "window": r.window, "flash_write_bytes_s": r.flash_write_bytes_s}
