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
and p99 over the requests of the middle 80% of arrivals (the first and last
tenth are warm-up and drain). An online run's throughput is the output
tokens of that window's requests over the window's span: what the engine
serves when it keeps up, which it does when no more than 2% of the requests
still wait for admission or prefill at the last arrival. An offline run's
throughput is all its output tokens over the time to finish them. **Peak
throughput under an SLO** is the throughput at the highest arrival rate,
found by bisection on the rate below the engine's steady-state service limit
(:func:`service_limit`), whose run keeps up with a p99 TPOT within the SLO.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import heapq
import math

import numpy as np

from perf.node import SYSTEMS, Model, Node, dense_layer_s, gpu_roofline_s, step as node_step, vllm_kv_tiers

__all__ = ["RequestState", "ServingResult", "StepTimer", "kv_capacity_tokens", "peak_under_slo", "poisson_arrivals",
           "service_limit", "simulate"]

CONTEXT_GRID = 1.02            # the step-time cache's geometric context grid (linear in between)
BACKLOG = 0.02                 # an engine keeps up when at most this share of the requests waits at the last arrival


def kv_capacity_tokens(node: Node, model: Model, system: str) -> int:
    """Tokens of KV the system can hold: its tiers' capacities (vLLM: the preset's KV home)."""
    tiers = vllm_kv_tiers(node) if SYSTEMS[system].get("gpu") else SYSTEMS[system]["tiers"]
    return int(sum(node.kv_capacity(t, model) for t in tiers) // node.kv_bytes_per_token(model))


class StepTimer:
    """Engine step times of one (node, model, system): the decode step from the node model, cached on a
    geometric context grid and interpolated linearly, and the prefill chunk's extra GPU time."""

    def __init__(self, node: Node, model: Model, system: str):
        self.node, self.model, self.system = node, model, system
        self._cache: dict[tuple[int, int], float] = {}
        self._dense: dict[int, float] = {}

    def _at(self, batch: int, k: int) -> float:
        key = (batch, k)
        if key not in self._cache:
            r = node_step(self.node, self.model, self.system, batch, CONTEXT_GRID ** k)
            self._cache[key] = r.step_s if r.fits else math.nan
        return self._cache[key]

    def decode_s(self, batch: int, context: float) -> float:
        """One decode step of ``batch`` requests of mean context ``context``."""
        if batch == 0:
            return 0.0
        x = math.log(max(context, 1.0)) / math.log(CONTEXT_GRID)
        k = math.floor(x)
        lo, hi = self._at(batch, k), self._at(batch, k + 1)
        if math.isnan(hi):              # the grid's upper point overflows the tiers: the lower one alone
            hi = lo
        if math.isnan(lo):
            raise ValueError(f"{self.system}: {batch} requests of context {context:.0f} do not fit")
        return lo + (hi - lo) * (x - k)

    def _dense_s(self, tokens: int) -> float:
        if tokens not in self._dense:
            self._dense[tokens] = self.model.layers * dense_layer_s(self.node, self.model, tokens)
        return self._dense[tokens]

    def prefill_s(self, batch: int, tokens: int, context: float) -> float:
        """Extra GPU time of ``tokens`` prompt tokens at mean position ``context`` batched with ``batch`` decodes:
        the dense work over weights the decode step already reads (all of it when no decode runs), and the
        causal attention's FLOPs (4·d per query head, layer and earlier token)."""
        if tokens == 0:
            return 0.0
        m = self.model
        dense = self._dense_s(batch + tokens) - (self._dense_s(batch) if batch else 0.0)
        attention = gpu_roofline_s(self.node, 4 * tokens * context * m.head_dim * m.q_heads * m.layers, 0.0)
        return dense + attention


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
                 max_running: int | None):
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
            raise ValueError(f"{timer.system}: a request of {int(np.max(inputs + outputs))} tokens exceeds the KV "
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
        self.running: list[int] = []                  # admission order
        self.filling: list[int] = []
        self.ends: list[tuple[int, int]] = []         # heap of (g at which it finishes, request)
        self.g = self.b = self.context_sum = self.reserved = 0
        self.next_arrival, self.now, self.preemptions, self.steps, self.batch_time = 0, 0.0, 0, 0, 0.0
        self.backlog: int | None = None               # requests not through their prompt at the last arrival

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
                self.running.append(i)
                self.filling.append(i)
                self.state[i] = RequestState.FILLING
                self.reserved += prompt[i]
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
            victim = self.running.pop()
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
        dt = self.timer.decode_s(b, self.context_sum / b + (k - 1) / 2) if b else 0.0
        chunk_tokens, chunk_pos, ready = self._prefill_chunk()
        if chunk_tokens:
            dt += self.timer.prefill_s(b, chunk_tokens, chunk_pos / chunk_tokens)
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
        """TTFT and TPOT over the middle 80% of arrivals, throughput, mean batch (see the module's doc)."""
        n, outputs, arrivals, now = self.n, self.outputs, self.arrivals, self.now
        first, finish = np.array(self.first), np.array(self.finish)
        lo, hi = n // 10, n - n // 10
        window = slice(lo, hi)
        span = self.arr[hi - 1] - self.arr[lo]
        if span > 0:
            throughput = float(outputs[window].sum()) / span
        else:                                                  # offline: every request ready at once
            throughput = float(outputs.sum()) / now
        multi = lo + np.flatnonzero(outputs[window] > 1)
        tpot = (finish[multi] - first[multi]) / (outputs[multi] - 1)
        ttft = first[window] - arrivals[window]
        return ServingResult(self.timer.system, 0.0, throughput, self.backlog or 0, _stats(ttft), _stats(tpot),
                             self.batch_time / now if now else 0.0, self.preemptions, self.steps, n)

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
        self.running.remove(i)


def simulate(timer: StepTimer, inputs: np.ndarray, outputs: np.ndarray, arrivals: np.ndarray,
             max_running: int | None = None) -> ServingResult:
    """Serve requests (``inputs``, ``outputs`` tokens) arriving at ``arrivals`` (seconds, non-decreasing)."""
    engine = _Engine(timer, inputs, outputs, arrivals, max_running)
    while engine.admit():
        engine.preempt()
        engine.complete(engine.engine_steps(engine.steps_together()))
    return engine.statistics()


def poisson_arrivals(rate: float, requests: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 7919])
    return np.cumsum(rng.exponential(1.0 / rate, requests))


def service_limit(timer: StepTimer, inputs: np.ndarray, outputs: np.ndarray) -> tuple[float, int]:
    """The highest arrival rate the engine can serve in steady state, and the batch it runs then: the running
    batch at its largest (the cap, or the KV capacity at the mean context) makes B / t_step output tokens per
    second of decode, and each arrival's prompt takes the GPU for its tokens' share of a full prefill chunk."""
    node = timer.node
    mean_in, mean_out = float(inputs.mean()), float(outputs.mean())
    batch = int(max(1, min(node.serving["max_running"],
                           kv_capacity_tokens(node, timer.model, timer.system) // (mean_in + mean_out))))
    decode = timer.decode_s(batch, mean_in + mean_out / 2)
    chunk = node.serving["prefill_chunk_tokens"]
    prefill_per_request = timer.prefill_s(batch, chunk, mean_in / 2) / chunk * mean_in
    # rate·mean_out·decode/batch (decode busy share) + rate·prefill_per_request (prefill busy share) <= 1
    return 1.0 / (mean_out * decode / batch + prefill_per_request), batch


def peak_under_slo(timer: StepTimer, inputs: np.ndarray, outputs: np.ndarray, slo_s: float, seed: int,
                   cache: dict | None = None) -> dict:
    """The highest Poisson arrival rate (bisection in log space) whose run keeps up (below
    :func:`service_limit`, and with no backlog at the last arrival) with a p99 TPOT within ``slo_s``, with that
    run's figures. ``inputs``/``outputs`` are a pool: a run takes as many as span four request lifetimes at its
    rate (at least ``serving.requests``). ``cache`` (rate -> result) lets the SLOs of one curve share runs."""
    cache = {} if cache is None else cache
    node = timer.node
    ceiling, batch = service_limit(timer, inputs, outputs)
    lifetime = float(outputs.mean()) * timer.decode_s(batch, float(np.mean(inputs + outputs / 2)))
    least = node.serving["requests"]

    def run(rate: float) -> ServingResult:
        key = round(rate, 9)
        if key not in cache:
            n = int(min(len(inputs), max(least, math.ceil(rate * 4 * lifetime))))
            r = simulate(timer, inputs[:n], outputs[:n], poisson_arrivals(rate, n, seed))
            cache[key] = dataclasses.replace(r, rate=rate)
        return cache[key]

    def meets(rate: float) -> bool:
        return rate <= ceiling and run(rate).meets(slo_s)

    lo, hi = ceiling / 1000, ceiling
    if not meets(lo):
        r = run(lo)
        return {"rate": 0.0, "throughput": 0.0, "why": f"p99 TPOT {r.tpot_s['p99'] * 1e3:.0f} ms at "
                f"{lo:.3g} requests/s", "limit": None, **_row(r)}
    if meets(hi):
        return {"rate": hi, "throughput": run(hi).throughput, "why": "", "limit": "saturated", **_row(run(hi))}
    for _ in range(node.serving["rate_steps"]):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if meets(mid) else (lo, mid)
    best = run(lo)
    return {"rate": lo, "throughput": best.throughput, "why": "", "limit": "SLO" if run(hi).keeps_up else "load",
            **_row(best)}


def _row(r: ServingResult) -> dict:
    return {"ttft_ms": {k: v * 1e3 for k, v in r.ttft_s.items()}, "tpot_ms": {k: v * 1e3 for k, v in r.tpot_s.items()},
            "mean_batch": r.mean_batch, "preemptions": r.preemptions, "steps": r.steps}
