"""``pam bench soak``: the host scheduler over a long stream of requests, every payload checksummed.

Requests come and go: ``concurrent`` of them decode at once, step by step in turn, and a finished request
(its prompt plus ``decode`` steps) is replaced by a new one. Each is a ``host.driver.HostDriver``, the code
the system top runs under (``sim.runs.driver``): it admits the step's token, scores the context with its
score source, folds the scores in (Eq. 7), swaps tokens between HBM, DDR and SSD (Algorithm 2), gives the
moved tokens new addresses and moves their payloads (the token's K and V bytes) through the migration
interface. Each request draws its trace from a seeded pool of locality traces, and its score source,
sparsity and swap bound at random.

The soak checks, against the trace and not against the driver's own books:

* after every step, each token the step admitted or moved holds its own payload at the address its tier's
  mapper gives, with the blake2b digest of its K and V bytes in the trace;
* every ``audit_every`` steps of a request, and at its end, the whole request: every token in exactly one
  tier, present in that tier's mapper and in no other, at an address no other token has; no payload left at
  an address no token has; each payload's digest; per-tier counts within the capacities and equal to the
  mappers' counts.

Each failed check is one violation; the first few are kept with their request and step.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time

import numpy as np

from golden.traces.locality import generate_locality_trace
from host.driver import HostDriver
from host.importance import SCORE_SOURCES
from host.mapping import DeviceShape
from perf.progress import Progress

__all__ = ["SoakRun", "soak_scheduler", "SHAPES"]

HEAD_DIM = 32
# Per request: HBM 2 x 2 banks of 4 rows (32 tokens), DDR 2 x 2 of 4 rows (64), SSD 1 x 4 dies of 4 rows
# (256): a 64-token prompt reaches DDR at once and SSD after a few dozen steps.
SHAPES = (DeviceShape(0, 0, 1, 2, 2, 4, 32, 16), DeviceShape(1, 0, 1, 2, 2, 4, 64, 16),
          DeviceShape(2, 0, 1, 1, 4, 4, 256, 16))
POOL = 8                                   # locality traces, drawn from by every request


@dataclasses.dataclass
class SoakRun:
    seed: int
    steps: int                             # decode steps, over all requests
    requests: int                          # requests started
    moves: int                             # token moves between tiers
    moves_by_route: dict
    checked_payloads: int                  # payload digests compared
    audits: int
    violations: int
    first_violations: list                 # (request, step, what), the first few
    wall_s: float
    steps_per_s: float


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


class _Request:
    def __init__(self, index: int, trace, digests, rng: np.random.Generator, decode: int):
        self.index, self.trace, self.digests, self.decode, self.step = index, trace, digests, decode, 0
        source = str(rng.choice(sorted(SCORE_SOURCES)))
        self.driver = HostDriver(SHAPES, 8.0, 3.0, source, sparsity=float(rng.choice([0.02, 0.1, 0.3])),
                                 max_moves=int(rng.choice([2, 8, 64])))
        self.driver.begin(trace)


class _Checker:
    def __init__(self):
        self.violations, self.first, self.payloads, self.audits = 0, [], 0, 0

    def fail(self, req: _Request, what: str) -> None:
        self.violations += 1
        if len(self.first) < 5:
            self.first.append((req.index, req.step, what))

    def token(self, req: _Request, token: int) -> None:
        """Token ``token`` holds its own payload where its tier's mapper puts it."""
        driver = req.driver
        try:
            tier = driver.scheduler.tier_of(token)
            address = driver.mappers[tier].address(0, token)
        except ValueError as e:
            self.fail(req, f"token {token}: {e}")
            return
        payload = driver.payloads.get(address)
        self.payloads += 1
        if payload is None or _digest(payload) != req.digests[token]:
            self.fail(req, f"token {token}: {'no payload' if payload is None else 'wrong payload'} at {address}")

    def audit(self, req: _Request) -> None:
        """The whole request (module docstring)."""
        self.audits += 1
        driver, n = req.driver, req.trace.context(req.step - 1)       # after its step req.step - 1
        tiers = driver.scheduler.tokens()
        if sorted(tiers) != list(range(n)):
            self.fail(req, f"the scheduler holds {len(tiers)} tokens, the context {n}")
        seen = {}
        for tier, mapper in enumerate(driver.mappers):
            held = mapper.tokens_of(0)
            if len(held) > driver.scheduler.capacities[tier] or len(held) != driver.scheduler.counts()[tier]:
                self.fail(req, f"tier {tier}: the mapper holds {len(held)}, the scheduler counts "
                               f"{driver.scheduler.counts()[tier]}, capacity {driver.scheduler.capacities[tier]}")
            for token in held:
                if tiers.get(token) != tier:
                    self.fail(req, f"token {token}: in tier {tier}'s mapper, the scheduler says {tiers.get(token)}")
                address = mapper.address(0, token)
                if address in seen:
                    self.fail(req, f"tokens {seen[address]} and {token} share the address {address}")
                seen[address] = token
        for address in driver.payloads.keys() - seen.keys():
            self.fail(req, f"a payload at {address}, which no token has")
        for token in range(n):
            self.token(req, token)


def soak_scheduler(steps: int = 1_000_000, concurrent: int = 4, decode: int = 192, prompt: int = 64,
                   audit_every: int = 64, seed: int = 1, progress: bool = False) -> SoakRun:
    """``steps`` decode steps over a stream of requests (module docstring); ``progress`` on stderr."""
    for field, value, low in (("steps", steps, 1), ("concurrent", concurrent, 1), ("decode", decode, 1),
                              ("prompt", prompt, 1), ("audit_every", audit_every, 1)):
        if value < low:
            raise ValueError(f"{field} must be >= {low}, not {value}")
    room = sum(s.capacity for s in SHAPES)
    if prompt + decode > room:
        raise ValueError(f"prompt + decode: {prompt + decode} tokens; a request's tiers hold {room}")
    started = time.perf_counter()
    rng = np.random.default_rng([seed, 0x50A4])
    pool = []
    for i in range(POOL):
        trace = generate_locality_trace(prompt=prompt, steps=decode, q_heads=2, kv_heads=1, head_dim=HEAD_DIM,
                                        seed=seed * POOL + i)
        pool.append((trace, [_digest(trace.k[t].tobytes() + trace.v[t].tobytes()) for t in range(len(trace.k))]))
    check, started_requests, moves, routes, done = _Checker(), 0, 0, {}, 0
    live: list[_Request] = []
    chunk = -(-steps // 100)
    bar = Progress(-(-steps // chunk), "soak", progress)
    while done < steps:
        while len(live) < concurrent:
            trace, digests = pool[int(rng.integers(POOL))]
            live.append(_Request(started_requests, trace, digests, rng, decode))
            started_requests += 1
        for req in list(live):
            if done >= steps:
                break
            before = req.driver.scheduler.tokens()
            try:
                rep = req.driver.decode_step(req.step)
            except ValueError as e:             # the driver's own checks (a payload lost or changed in transit)
                check.fail(req, f"step raised: {e}")
                live.remove(req)                # the request ends there; its step counts
                done += 1
                continue
            after = req.driver.scheduler.tokens()
            touched = [t for t in after if before.get(t) != after[t]]
            for token in touched:
                check.token(req, token)
            moves += rep.moves
            for route, count in rep.moves_by_route.items():
                routes[route] = routes.get(route, 0) + count
            req.step += 1
            done += 1
            if done % chunk == 0 or done == steps:
                bar.step(f"{done:,} steps, {started_requests} requests, {check.violations} violations")
            if req.step % audit_every == 0 or req.step == req.decode:
                check.audit(req)
            if req.step == req.decode:
                live.remove(req)
    wall = time.perf_counter() - started
    return SoakRun(seed, done, started_requests, moves, dict(sorted(routes.items())), check.payloads, check.audits,
                   check.violations, check.first, wall, done / wall)
