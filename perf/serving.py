"""Request-level serving simulation: continuous batching as vLLM does it (issue 15, item 3).

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
import heapq
import math

import numpy as np

from perf.node import SYSTEMS, TIERS, Model, Node, dense_layer_s, gpu_roofline_s, step as node_step

__all__ = ["ServingResult", "StepTimer", "kv_capacity_tokens", "peak_under_slo", "poisson_arrivals", "service_limit", "simulate"]

CONTEXT_GRID = 1.02            # the step-time cache's geometric context grid (linear in between)
BACKLOG = 0.02                 # an engine keeps up when at most this share of the requests waits at the last arrival


def kv_capacity_tokens(node: Node, model: Model, system: str) -> int:
    """Tokens of KV the system can hold: its tiers' capacities (vLLM: the preset's KV home)."""
    if SYSTEMS[system].get("gpu"):
        tiers = ("hbm", "ddr") if node.vllm["kv_home"] == "hbm" else ("ddr",)
    else:
        tiers = SYSTEMS[system]["tiers"]
    return int(sum(node.kv_capacity(t, model) for t in tiers if t in TIERS) // model.kv_bytes_per_token)


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


def simulate(timer: StepTimer, inputs: np.ndarray, outputs: np.ndarray, arrivals: np.ndarray,
             max_running: int | None = None) -> ServingResult:
    """Serve requests (``inputs``, ``outputs`` tokens) arriving at ``arrivals`` (seconds, non-decreasing)."""
    node, model = timer.node, timer.model
    serving = node.serving
    cap_running = max_running or serving["max_running"]
    chunk = serving["prefill_chunk_tokens"]
    capacity = kv_capacity_tokens(node, model, timer.system)
    n = len(inputs)
    if not (len(outputs) == len(arrivals) == n) or n < 10:
        raise ValueError(f"need at least 10 requests with one input, output and arrival each, not {n}")
    if int(np.max(inputs + outputs)) > capacity:
        raise ValueError(f"{timer.system}: a request of {int(np.max(inputs + outputs))} tokens exceeds the KV "
                         f"capacity of {capacity} tokens")
    inp, outs, arr = inputs.tolist(), outputs.tolist(), arrivals.tolist()
    prompt = list(inp)                            # tokens to prefill (grows on preemption: recompute)
    done = [0] * n                                # prompt tokens prefilled so far
    base = [0] * n                                # a decoding request has made g - base[i] tokens
    made = [0] * n                                # tokens made, kept for requests not decoding
    state = [0] * n                               # 0 waiting or not arrived, 1 filling, 2 decoding, 3 finished
    first, finish = [math.nan] * n, [math.nan] * n
    waiting: collections.deque[int] = collections.deque()
    running: list[int] = []                       # admission order
    filling: list[int] = []
    ends: list[tuple[int, int]] = []              # heap of (g at which it finishes, request)
    g = b = context_sum = reserved = 0            # decode steps so far; decoding requests; Σ their context; prompts held
    next_arrival, now, preemptions, steps, batch_time, backlog = 0, 0.0, 0, 0, 0.0, None

    def start_decoding(i):
        nonlocal b, context_sum
        state[i], base[i] = 2, g - made[i]
        b += 1
        context_sum += inp[i] + made[i]
        heapq.heappush(ends, (base[i] + outs[i], i))

    def stop_decoding(i):
        nonlocal b, context_sum
        made[i] = g - base[i]
        b -= 1
        context_sum -= inp[i] + made[i]

    while True:
        while next_arrival < n and arr[next_arrival] <= now:
            waiting.append(next_arrival)
            next_arrival += 1
        while (waiting and len(running) < cap_running
               and context_sum + reserved + prompt[waiting[0]] <= capacity):
            i = waiting.popleft()
            running.append(i)
            filling.append(i)
            state[i] = 1
            reserved += prompt[i]
        if next_arrival == n and backlog is None:
            backlog = len(waiting) + len(filling)        # arrived, not yet through their prompt
        if not running:
            if next_arrival >= n:
                break
            now = max(now, arr[next_arrival])
            continue
        # Room to grow: preempt the latest admitted until one more token per decoding request fits. A running
        # request holds its whole prompt (reserved at admission) and every token it has made.
        while b and context_sum + reserved + b > capacity:
            victim = running.pop()
            if state[victim] == 2:
                stop_decoding(victim)
            else:
                filling.remove(victim)
                reserved -= prompt[victim]
            prompt[victim], done[victim], state[victim] = inp[victim] + made[victim], 0, 0
            waiting.appendleft(victim)
            preemptions += 1
        while ends and (state[ends[0][1]] != 2 or base[ends[0][1]] + outs[ends[0][1]] != ends[0][0]):
            heapq.heappop(ends)                   # stale: preempted since
        if filling:
            k = 1
        else:
            k = ends[0][0] - g
            if next_arrival < n and len(running) < cap_running:
                k = max(1, min(k, math.ceil((arr[next_arrival] - now) / timer.decode_s(b, context_sum / b))))
            k = max(1, min(k, (capacity - context_sum - reserved) // b))
        dt = timer.decode_s(b, context_sum / b + (k - 1) / 2) if b else 0.0
        budget, chunk_tokens, chunk_pos, ready = max(0, chunk - b), 0, 0.0, []
        for i in filling:
            if budget == 0:
                break
            take = min(budget, prompt[i] - done[i])
            chunk_pos += take * (done[i] + take / 2)
            done[i] += take
            chunk_tokens += take
            budget -= take
            if done[i] == prompt[i]:
                ready.append(i)
        if chunk_tokens:
            dt += timer.prefill_s(b, chunk_tokens, chunk_pos / chunk_tokens)
        now += k * dt
        steps += k
        batch_time += b * k * dt
        g += k
        context_sum += b * k
        for i in ready:                           # the prompt's last step makes its first (or next) token
            filling.remove(i)
            reserved -= prompt[i]
            if made[i] == 0:
                first[i] = now
            made[i] += 1
            if made[i] >= outs[i]:
                finish[i], state[i] = now, 3
                running.remove(i)
            else:
                start_decoding(i)
        while ends and ends[0][0] <= g:
            _, i = heapq.heappop(ends)
            if state[i] == 2 and base[i] + outs[i] <= g:
                stop_decoding(i)
                finish[i], state[i] = now, 3
                running.remove(i)
    first, finish = np.array(first), np.array(finish)
    lo, hi = n // 10, n - n // 10
    window = slice(lo, hi)
    span = arr[hi - 1] - arr[lo]
    if span > 0:
        throughput = float(outputs[window].sum()) / span
    else:                                                  # offline: every request ready at once
        throughput = float(outputs.sum()) / now
    multi = lo + np.flatnonzero(outputs[window] > 1)
    tpot = (finish[multi] - first[multi]) / (outputs[multi] - 1)
    ttft = first[window] - arrivals[window]
    return ServingResult(timer.system, 0.0, throughput, backlog or 0, _stats(ttft), _stats(tpot),
                         batch_time / now if now else 0.0, preemptions, steps, n)


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
