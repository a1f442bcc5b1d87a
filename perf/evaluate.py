"""``pam eval``: the paper's comparisons on the system model, under a preset.

* **online**: peak throughput (output tokens/s) under a per-token SLO of
  100, 150 and 200 ms, for each model, workload and system, from the
  request-level simulator (``perf/serving.py``): the highest Poisson
  arrival rate whose p99 TPOT meets the SLO while the engine keeps up
  ("limit" says which of the two stopped it, or "saturated");
* **offline**: throughput of a closed pool (twice the batch of requests, at
  most the batch running) through the same simulator, prefill
  included;
* **energy** per output token at each system's online peak (ShareGPT, 150 ms);
* **ablation**: PAM's attention time against LS-PIM's, at a small and a large
  batch, and PAM without PAMattention, the mapping or the scheduler;
* **scaling**: PAM over L-PIM as the batch grows;
* **context sweep**: every system's throughput at batch 64 as the context
  grows from 1k to 32k tokens.

``PAPER`` holds the paper's headline figures for the side-by-side table.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os

import numpy as np

from hw.tierconfig import MemoryTier
from perf.node import PRESETS, SYSTEMS, load_models, load_node, step
from perf.serving import StepTimer, peak_under_slo, simulate
from perf.workloads import lengths, sample
from perf.progress import Progress

__all__ = ["DIRECTION_WORDS", "HEADLINE_SYSTEMS", "PAPER", "PRESETS", "evaluate"]

ONLINE = ("sharegpt", "wildchat", "humaneval")
SLOS_MS = (100, 150, 200)
OFFLINE_BATCHES = {"llama3_70b": (256, 512, 1024), "opt_175b": (16, 32, 64)}
BASELINES = ("vLLM-offload", "AttAcc", "L-PIM", "LS-PIM", "PAM")
HEADLINE_SYSTEMS = ("vLLM-offload", "LS-PIM", "PAM")
ABLATIONS = ("PAM", "PAM-noattn", "PAM-nomap", "PAM-nosched", "LS-PIM")
SWEEP_CONTEXTS = (1024, 2048, 4096, 8192, 16384, 32768)
SWEEP_BATCH = 64

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
    """One (model, workload, system): its peak under each SLO, the SLOs sharing the simulator's runs."""
    node = _node(calibration, preset, overrides)
    model = load_models()[key]
    inputs, outputs = lengths(workload, 4 * node.serving["requests"], seed)
    timer, cache, rows = StepTimer(node, model, system), {}, []
    context = float(np.mean(inputs + outputs / 2))
    for slo in SLOS_MS:
        peak = peak_under_slo(timer, inputs, outputs, slo / 1e3, seed, cache)
        row = {"model": key, "workload": workload, "slo_ms": slo, "system": system, **peak}
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
            "steady_throughput": steady.throughput, "energy_per_token_j": steady.energy_per_token_j}


def _run_all(tasks: list, progress: Progress, workers: int) -> list:
    """Run (function, args, label) tasks on ``workers`` processes (in this one if 1), in order."""
    if workers <= 1:
        out = []
        for fn, args, label in tasks:
            out.append(fn(*args))
            progress.step(label)
        return out
    with concurrent.futures.ProcessPoolExecutor(workers) as pool:
        futures = [pool.submit(fn, *args) for fn, args, _ in tasks]
        for future, (_, _, label) in zip(futures, tasks):
            future.result()
            progress.step(label)
        return [f.result() for f in futures]


def evaluate(models=None, seed: int = 1, progress: bool = False, calibration=None, preset: str = "physical",
             workers: int | None = None, overrides: dict | None = None, headline_only: bool = False) -> dict:
    """The evaluation under ``preset`` with ``overrides`` ({"section.key": value}) of its figures.
    ``headline_only`` runs the serving simulator only for the systems the headline ratios compare (PAM,
    vLLM-offload, LS-PIM): the sensitivity sweep's unit. The ablation, scaling and context rows are steady
    decode steps and always run."""
    frozen = tuple(sorted((overrides or {}).items()))
    node = _node(calibration, preset, frozen)
    all_models = load_models()
    keys = list(models or all_models)
    for key in keys:
        if key not in all_models:
            raise ValueError(f"--models: unknown model {key!r}; choose from {sorted(all_models)}")
    workers = workers or min(2, os.cpu_count() or 1)
    workloads = {w: sample(w, seed=seed) for w in ONLINE + ("arxiv_sum", "write_doc")}
    systems = HEADLINE_SYSTEMS if headline_only else BASELINES
    tasks = [(_online_curve, (calibration, preset, frozen, k, w, s, seed), f"{preset}: {all_models[k].name} {w} {s}")
            for k in keys for w in ONLINE for s in systems]
    tasks += [(_offline_cell, (calibration, preset, frozen, k, w, b, s, seed), f"{preset}: {all_models[k].name} {w} "
              f"batch {b} {s}") for k in keys for w in ("arxiv_sum", "write_doc") for b in OFFLINE_BATCHES.get(k, ())
             for s in systems]
    bar = Progress(len(tasks) + len(keys), f"evaluation ({preset} preset)", progress)
    results = _run_all(tasks, bar, workers)
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
    device = [{"tier": name, "group": g, "tflops": node.tiers[name].device_flops(g, node.head_dim) / 1e12,
               "paper_tflops": PAPER["device_tflops"][name]}
              for name in (tier.key for tier in MemoryTier) for g in sorted({m.group for m in all_models.values()})
              if g in node.tiers[name].cycles_per_token]            # a sweep point calibrates its models' groups
    return {"seed": seed, "preset": preset, "vllm": node.vllm, "models": {k: all_models[k].name for k in keys},
            "device_compute": device,
            "workloads": workloads, "systems": list(SYSTEMS), "online": online, "offline": offline_rows,
            "ablation": ablation, "scaling": scaling, "context_sweep": contexts,
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
