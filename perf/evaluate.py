"""``pam eval``: the paper's comparisons on the system model, under a preset.

* **online**: peak throughput (output tokens/s) under a per-token SLO of
  100, 150 and 200 ms, for each model, workload (three chat-length ones and
  a long-context one) and system, from the request-level simulator
  (``perf/serving.py``): the highest Poisson arrival rate whose p99 TPOT
  meets the SLO while the engine keeps up; "limit" names what failed the
  next rate up (SLO, load, KV capacity, running cap), and "convergence" is
  the peak's change when the run measures twice the requests (checked: at
  most ``CONVERGENCE``);
* **offline**: throughput of a closed pool (twice the batch of requests, at
  most the batch running) through the same simulator, prefill
  included;
* **energy** per output token at each system's online peak (ShareGPT, 150 ms);
* **ablation**: PAM's attention time against LS-PIM's, at a small and a large
  batch, and PAM without PAMattention, the mapping or the scheduler;
* **scaling**: PAM over L-PIM as the batch grows;
* **context sweep**: every system's throughput at batch 64 as the context
  grows from 1k to 32k tokens;
* **crossover**: PAM over LS-PIM and over vLLM-offload as the mean context
  grows from chat lengths to 128k, each system at the largest batch whose
  decode step meets the 150 ms SLO, and the first context where PAM's
  placement pays (PAM ≥ ``PAYS`` × LS-PIM).

``PAPER`` holds the paper's headline figures for the side-by-side table.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os

import numpy as np

from hw.tierconfig import MemoryTier
from perf.node import PRESETS, SYSTEMS, flash_write_dwpd, load_models, load_node, load_system_config, step
from perf.scaleout import run_tasks
from perf.serving import RequestTooLong, StepTimer, peak_under_slo, simulate
from perf.workloads import lengths, sample
from perf.progress import Progress

__all__ = ["CONVERGENCE", "CROSSOVER_CONTEXTS", "DIRECTION_WORDS", "HEADLINE_SYSTEMS", "PAPER", "PRESETS",
           "check_models", "crossover", "evaluate", "evaluate_presets"]

ONLINE = ("sharegpt", "wildchat", "humaneval", "docchat")
CONVERGENCE = 0.02          # every online peak moves by at most this when its run measures twice the requests
MOST_REQUESTS = 16          # a peak is searched with up to this many times serving.window_requests
SLOS_MS = (100, 150, 200)
OFFLINE_BATCHES = {"llama3_70b": (256, 512, 1024), "opt_175b": (16, 32, 64)}
BASELINES = ("vLLM-offload", "AttAcc", "L-PIM", "LS-PIM", "PAM")
HEADLINE_SYSTEMS = ("vLLM-offload", "LS-PIM", "PAM")
ABLATIONS = ("PAM", "PAM-noattn", "PAM-nomap", "PAM-nosched", "LS-PIM", "LS-PIM-fill", "LS-PIM-map")
SWEEP_CONTEXTS = (1024, 2048, 4096, 8192, 16384, 32768)
SWEEP_BATCH = 64
CROSSOVER_CONTEXTS = (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)
CROSSOVER_SLO_MS = 150
_STATS = ("mean", "p50", "p90", "p99")
PAYS = 1.05                 # PAM's placement pays where PAM serves at least 5% more than LS-PIM

TIE = 0.005                 # a ratio within 0.5% of 1 is a tie, not a direction
DIRECTION_WORDS = {1: "same", 0: "tie", -1: "OPPOSITE", None: "-"}

PAPER = {
    "online_vs_vllm": {"qwen2_5_32b": 7.20, "llama3_70b": 6.93, "opt_175b": 24.53, "mean": 12.88},
    "offline_vs_vllm": {("llama3_70b", "arxiv_sum"): 39.2, ("llama3_70b", "write_doc"): 25.2,
                        ("opt_175b", "arxiv_sum"): 33.0, ("opt_175b", "write_doc"): 8.26},
    "online_vs_ls_pim": 4.54,
    "attention_vs_ls_pim": {"small batch": 18.7, "large batch": 48.56},
    "energy_saving_vs_vllm": (0.531, 0.927),
    "scaling_vs_l_pim": (6.03, 16.96),
    "device_tflops": {"hbm": 1.6, "ddr": 0.204, "ssd": 0.018},      # per device, under peak power
}


@functools.cache
def _node(calibration, preset: str, overrides: tuple = ()):
    return load_node(calibration, preset, dict(overrides))


def _online_curve(calibration, preset: str, overrides: tuple, key: str, workload: str, system: str,
                  seed: int) -> list[dict]:
    """One (model, workload, system): its peak under each SLO, the SLOs sharing the simulator's runs, searched
    with ``serving.window_requests`` measured requests, then with twice as many, and so on until two searches
    agree within ``CONVERGENCE`` (or ``MOST_REQUESTS`` times as many were measured); the last search's peak is
    reported, with its change from the one before (the convergence figure) and its measured requests."""
    node = _node(calibration, preset, overrides)
    model = load_models()[key]
    window = node.serving["window_requests"]
    mean_in, mean_out = (float(x.mean()) for x in lengths(workload, 4 * window, seed))
    lifetime = mean_out * max(SLOS_MS) / 1e3          # a request that meets the largest SLO lives no longer

    def requests(n):
        return lengths(workload, n, seed)

    timer, caches, rows = StepTimer(node, model, system), {window: {}}, []
    context = mean_in + mean_out / 2
    last_limit = None                       # the limit that bound the tighter SLO's peak
    for slo in sorted(SLOS_MS):
        if last_limit not in ("SLO", None):
            # The tighter SLO's peak failed on the next rate up for a reason no looser SLO lifts: the same peak.
            rows.append({**rows[-1], "slo_ms": slo})
            continue
        try:
            short = peak_under_slo(timer, requests, slo / 1e3, seed, lifetime, window, caches[window])
        except RequestTooLong as exc:           # one of the workload's requests cannot be held at all
            rows.append({"model": key, "workload": workload, "slo_ms": slo, "system": system, "rate": 0.0,
                         "throughput": 0.0, "next_rate": 0.0, "limit": "KV capacity", "convergence": 0.0,
                         "why": str(exc), "mean_batch": 0.0, "batch": 0, "tpot_ms": dict.fromkeys(_STATS, math.nan),
                         "ttft_ms": dict.fromkeys(_STATS, math.nan),
                         "flash_dwpd": 0.0, "energy_per_token_j": 0.0, "energy": {}})
            continue
        measured, peak, convergence = window, short, 0.0
        while short["rate"] and measured < MOST_REQUESTS * window:   # twice the requests, until two runs agree
            measured *= 2
            peak = peak_under_slo(timer, requests, slo / 1e3, seed, lifetime, measured,
                                  caches.setdefault(measured, {}), start=short["rate"])
            convergence = peak["throughput"] / short["throughput"] - 1 if short["throughput"] else 0.0
            if abs(convergence) <= CONVERGENCE:
                break
            short = peak
        last_limit = peak["limit"]
        row = {"model": key, "workload": workload, "slo_ms": slo, "system": system, **peak,
               "convergence": convergence, "lifetime_s": lifetime, "measured_requests": measured,
               "flash_dwpd": flash_write_dwpd(node, peak["flash_write_bytes_s"])}
        batch = max(1, int(round(peak["mean_batch"])))
        r = step(node, model, system, batch, context)       # energy at the peak's mean running batch
        row.update(batch=batch if peak["throughput"] else 0, energy=r.energy_j if r.fits else {},
                   energy_per_token_j=r.energy_per_token_j, shares=r.tokens_share, moved_pct=100 * r.moved_per_step)
        rows.append(row)
    return rows


def _offline_cell(calibration, preset: str, overrides: tuple, key: str, workload: str, batch: int, system: str,
                  seed: int) -> dict:
    node = _node(calibration, preset, overrides)
    model = load_models()[key]
    inputs, outputs = lengths(workload, 2 * batch, seed)
    timer = StepTimer(node, model, system)
    steady = step(node, model, system, batch, float(np.mean(inputs + outputs / 2)))
    row = {"model": key, "workload": workload, "batch": batch, "system": system, "fits": True, "why": ""}
    try:
        r = simulate(timer, inputs, outputs, np.zeros(len(inputs)), max_running=batch)
    except ValueError as exc:
        return {**row, "fits": False, "why": str(exc), "throughput": 0.0, "energy_per_token_j": 0.0}
    return {**row, "throughput": r.throughput, "mean_batch": r.mean_batch, "preemptions": r.preemptions,
            "tpot_ms": {k: v * 1e3 for k, v in r.tpot_s.items()},
            "steady_throughput": steady.throughput, "energy_per_token_j": steady.energy_per_token_j,
            "flash_dwpd": flash_write_dwpd(node, r.flash_write_bytes_s)}


def _call(task: tuple):
    """One evaluation task (a Dask task): ``(function, args)``."""
    fn, args = task
    return fn(*args)


def _run_all(tasks: list, progress: Progress, workers: int, scheduler: str | None) -> list:
    """Run (function, args, label) tasks as Dask tasks (``perf.scaleout``; here, one after another, with
    ``workers=1``), in order."""
    labels = [label for _, _, label in tasks]
    return run_tasks(_call, [(fn, args) for fn, args, _ in tasks], labels, scheduler=scheduler, workers=workers,
                     on_done=lambda i, _: progress.step(labels[i]))


def _slo_batch_throughput(node, model, system: str, context: float, slo_s: float) -> float:
    """Decode throughput at the largest batch (up to ``serving.max_running``) whose step fits and meets
    ``slo_s``: tokens per second (0 if not even one request does)."""
    lo, hi = 0, node.serving["max_running"]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        r = step(node, model, system, mid, context)
        lo, hi = (mid, hi) if r.fits and r.step_s <= slo_s else (lo, mid - 1)
    return step(node, model, system, lo, context).throughput if lo else 0.0


def crossover(node, keys) -> tuple[list[dict], dict]:
    """PAM over LS-PIM and over vLLM-offload at each of ``CROSSOVER_CONTEXTS``, per model (each system at its
    largest batch meeting the SLO), and the first context where PAM's placement pays, per model."""
    rows, pays = [], {}
    models = load_models()
    for key in keys:
        for context in CROSSOVER_CONTEXTS:
            t = {s: _slo_batch_throughput(node, models[key], s, context, CROSSOVER_SLO_MS / 1e3)
                 for s in HEADLINE_SYSTEMS}
            rows.append({"model": key, "context": context, "throughput": t,
                         "pam_vs_ls_pim": _ratio(t["PAM"], t["LS-PIM"]),
                         "pam_vs_vllm": _ratio(t["PAM"], t["vLLM-offload"])})
            ratio = rows[-1]["pam_vs_ls_pim"]
            if key not in pays and ratio is not None and ratio >= PAYS:
                pays[key] = context
        pays.setdefault(key, None)
    return rows, pays


def evaluate(models=None, seed: int = 1, progress: bool = False, calibration=None, preset: str = "physical",
             workers: int | None = None, overrides: dict | None = None, headline_only: bool = False,
             scheduler: str | None = None) -> dict:
    """The evaluation under ``preset`` with ``overrides`` ({"section.key": value}) of its figures.
    ``headline_only`` runs the serving simulator only for the systems the headline ratios compare (PAM,
    vLLM-offload, LS-PIM): the sensitivity sweep's unit. The ablation, scaling and context rows are steady
    decode steps and always run."""
    return evaluate_presets((preset,), models, seed, progress, calibration, workers, overrides, headline_only,
                            scheduler)[preset]


def check_models(models) -> list[str]:
    """The models' keys (every model of ``perf/configs/models.toml`` for None), each checked."""
    known = load_models()
    for key in models or ():
        if key not in known:
            raise ValueError(f"--models: unknown model {key!r}; choose from {sorted(known)}")
    return list(models or known)


def _shared_key(preset: str, frozen: tuple, gpu: bool) -> str:
    """What a task's result depends on besides its own arguments: the preset's figures, without the vLLM
    section for a PIM system (not ``gpu``; the presets differ there only), so presets share its tasks."""
    config = load_system_config(preset, {k: v for k, v in frozen if not k.startswith("links.")})
    if not gpu:
        config.pop("vllm")
    return json.dumps(config, sort_keys=True)


def evaluate_presets(presets, models=None, seed: int = 1, progress: bool = False, calibration=None,
                     workers: int | None = None, overrides: dict | None = None, headline_only: bool = False,
                     scheduler: str | None = None) -> dict[str, dict]:
    """:func:`evaluate` under each of ``presets``, their serving runs as one set of Dask tasks in which a task
    the presets share (a PIM system's, where they differ only in vLLM) runs once."""
    frozen = tuple(sorted((overrides or {}).items()))
    all_models = load_models()
    keys = check_models(models)
    workers = workers or min(2, os.cpu_count() or 1)
    systems = HEADLINE_SYSTEMS if headline_only else BASELINES
    planned, unique = {}, {}             # preset -> task keys in order; task key -> (function, args, label)
    for preset in presets:
        _node(calibration, preset, frozen)                     # every figure checked before any task runs
        cells = [(_online_curve, (k, w, s), f"{all_models[k].name} {w} {s}")
                 for k in keys for w in ONLINE for s in systems]
        cells += [(_offline_cell, (k, w, b, s), f"{all_models[k].name} {w} batch {b} {s}")
                  for k in keys for w in ("arxiv_sum", "write_doc") for b in OFFLINE_BATCHES.get(k, ()) for s in systems]
        shared = {gpu: _shared_key(preset, frozen, gpu) for gpu in (False, True)}     # read the figures once
        planned[preset] = []
        for fn, args, label in cells:
            task_key = (fn.__name__, shared[bool(SYSTEMS[args[-1]].get("gpu"))], args)
            planned[preset].append(task_key)
            unique.setdefault(task_key, (fn, (calibration, preset, frozen, *args, seed), f"{preset}: {label}"))
    bar = Progress(len(unique) + len(presets) * len(keys), f"evaluation ({', '.join(presets)} preset"
                   f"{'s' if len(presets) > 1 else ''})", progress)
    done = dict(zip(unique, _run_all(list(unique.values()), bar, workers, scheduler)))
    return {preset: _assemble(preset, [copy.deepcopy(done[t]) for t in planned[preset]], calibration, frozen, keys,
                              seed, headline_only, bar) for preset in presets}


def _assemble(preset: str, results: list, calibration, frozen: tuple, keys: list, seed: int, headline_only: bool,
              bar: Progress) -> dict:
    """One preset's evaluation from its serving tasks' results and its steady decode steps."""
    node = _node(calibration, preset, frozen)
    all_models = load_models()
    workloads = {w: sample(w, seed=seed) for w in ONLINE + ("arxiv_sum", "write_doc")}
    online = [row for rows in results if isinstance(rows, list) for row in rows]
    offline_rows = [r for r in results if isinstance(r, dict)]
    ablation, scaling, contexts = [], [], []
    for key in keys:
        model = all_models[key]
        context = workloads["arxiv_sum"]["decode_context"]
        for batch in (16, 256):
            for system in ABLATIONS:
                r = step(node, model, system, batch, context)
                ablation.append({"model": key, "batch": batch, "system": system, "fits": r.fits,
                                 "attention_ms": r.attention_s * 1e3, "step_ms": r.step_s * 1e3,
                                 "tier_ms": [t * 1e3 for t in r.tier_s]})
        for batch in (16, 64, 256, 1024):
            pam, lpim = (step(node, model, s, batch, context) for s in ("PAM", "L-PIM"))
            scaling.append({"model": key, "batch": batch, "pam": pam.throughput, "l_pim": lpim.throughput,
                            "speedup": pam.throughput / lpim.throughput if lpim.throughput else None})
        for context_len in SWEEP_CONTEXTS:
            for system in BASELINES:
                r = step(node, model, system, SWEEP_BATCH, context_len)
                contexts.append({"model": key, "context": context_len, "batch": SWEEP_BATCH, "system": system,
                                 "fits": r.fits, "throughput": r.throughput, "step_ms": r.step_s * 1e3,
                                 "why": r.why})
        bar.step(f"{preset}: {model.name} ablation, scaling, contexts")
    cross, pays = ([], {}) if headline_only else crossover(node, keys)
    device = [{"tier": name, "group": g, "lone_bank_tflops": node.tiers[name].device_flops(g, capped=False) / 1e12,
               "tflops": node.tiers[name].device_flops(g) / 1e12,
               "power_cap_tflops": node.tiers[name].power_cap_flops / 1e12,
               "paper_tflops": PAPER["device_tflops"][name]}
              for name in (tier.key for tier in MemoryTier) for g in sorted({m.group for m in all_models.values()})
              if g in node.tiers[name].cycles_per_token]            # a sweep point calibrates its models' groups
    return {"seed": seed, "preset": preset, "vllm": node.vllm, "models": {k: all_models[k].name for k in keys},
            "device_compute": device, "window_requests": node.serving["window_requests"],
            "workloads": workloads, "systems": list(SYSTEMS), "online": online, "offline": offline_rows,
            "ablation": ablation, "scaling": scaling, "context_sweep": contexts, "crossover": cross,
            "crossover_pays_at": pays, "converged": all(abs(r["convergence"]) <= CONVERGENCE for r in online),
            "comparisons": compare(online, offline_rows, ablation, scaling, keys)}


def _ratio(a, b):
    return a / b if b else float("inf") if a else None


def _finite(values) -> list:
    return [v for v in values if v not in (None, float("inf"))]


def _spread(values) -> dict | None:
    """Mean, min and max of a list of ratios, so that a mean never hides its spread."""
    values = _finite(values)
    return {"mean": float(np.mean(values)), "min": float(min(values)), "max": float(max(values))} if values else None


def compare(online, offline, ablation, scaling, keys) -> list[dict]:
    """Our figure next to the paper's for every row of ``PAPER``, per model wherever the paper's row can
    be split by model (``ours`` is then a mean/min/max over workloads and SLOs or batches); ``direction`` is
    whether ours agrees."""
    rows = []

    def peak(model, system):
        return [r["throughput"] for r in online if r["model"] == model and r["system"] == system]

    def add(comparison, model, ours, paper):
        """direction: 1 where ours is on the paper's side (a ratio above 1, a saving above 0), 0 for a tie,
        -1 for the other side, None where nothing ran."""
        mean = ours["mean"] if isinstance(ours, dict) else ours
        neutral = 0.0 if "lower than" in comparison else 1.0
        direction = None if mean is None else 0 if abs(mean - neutral) <= TIE else 1 if mean > neutral else -1
        rows.append({"comparison": comparison, "model": model, "ours": ours, "paper": paper, "direction": direction})

    for key in keys:
        add(f"online throughput vs vLLM-offload, {key}", key,
            _spread(_ratio(p, v) for p, v in zip(peak(key, "PAM"), peak(key, "vLLM-offload"))),
            PAPER["online_vs_vllm"].get(key))
    for (key, w), paper in PAPER["offline_vs_vllm"].items():
        if key in keys:
            add(f"offline throughput vs vLLM-offload, {key} {w}", key, _spread(
                _ratio(a["throughput"], b["throughput"]) for a in offline for b in offline
                if a["model"] == b["model"] == key and a["workload"] == b["workload"] == w
                and a["batch"] == b["batch"] and a["system"] == "PAM" and b["system"] == "vLLM-offload"), paper)
    for key in keys:
        add(f"online throughput vs LS-PIM, {key}", key,
            _spread(_ratio(p, q) for p, q in zip(peak(key, "PAM"), peak(key, "LS-PIM"))),
            PAPER["online_vs_ls_pim"])
    for batch, label in ((16, "small batch"), (256, "large batch")):
        for key in keys:
            att = [_ratio(b["attention_ms"], a["attention_ms"]) for a in ablation for b in ablation
                   if a["model"] == b["model"] == key and a["batch"] == b["batch"] == batch and a["system"] == "PAM"
                   and b["system"] == "LS-PIM" and a["fits"] and b["fits"]]
            add(f"attention speed-up vs LS-PIM, {label} (batch {batch}), {key}", key, _spread(att),
                PAPER["attention_vs_ls_pim"][label])
    for key in keys:
        saving = [1 - a["energy_per_token_j"] / b["energy_per_token_j"] for a in online for b in online
                  if a["model"] == b["model"] == key and a["workload"] == b["workload"] == "sharegpt"
                  and a["slo_ms"] == b["slo_ms"] == 150 and a["system"] == "PAM" and b["system"] == "vLLM-offload"
                  and a["throughput"] and b["throughput"] and b["energy_per_token_j"]]
        add(f"energy per output token, lower than vLLM-offload, {key}", key,
            saving[0] if saving else None, list(PAPER["energy_saving_vs_vllm"]))
    for key in keys:
        add(f"throughput vs L-PIM as the batch grows (16-1024), {key}", key,
            _spread(r["speedup"] for r in scaling if r["model"] == key and r["speedup"]),
            list(PAPER["scaling_vs_l_pim"]))
    return rows
