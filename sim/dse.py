"""``pam sweep``: design-space exploration over the tiers' PU clock, lanes, buffer and FIFO, row size, and the model.

Each point changes fields of the shipped tier configs (``hw/configs/*.toml``); a changed tier gets a TOML
file of its own under the build directory's ``dse/tiers/``. The point's calibration runs the RTL for the
changed tiers only (PU on its bank for every GQA group the models use, and the RU), each run a Dask task
(``perf.scaleout``) cached by the tier file's hash, group, format, head_dim and seed; the unchanged tiers keep
the shipped calibration. The evaluation (``perf.evaluate``, headline systems) then gives PAM's online
peak throughput at the 150 ms p99-TPOT SLO (mean over the online workloads), its ratio to vLLM-offload,
PAM's offline throughput (mean over the offline workloads and batches that fit) and PAM's energy per output
token. Area: the PU core synthesised by Yosys (``hw.area``; NAND2 equivalents,
memories mapped to flops), cached by (format, lanes, head_dim, G, block), times the PUs of every tier; the
shipped tiers' PUs come synthesised in ``sim/configs/pu_area.json`` (minutes each in Yosys).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from importlib import resources

import numpy as np

from golden.validate import check_number
from golden.formats import FP32, format_by_name
from golden.hwmodel import block_tokens_for
from hw.tierconfig import MemoryTier, load_tier
from sim.build_dir import build_dir
from sim.inputs import parse_float, parse_int
from perf.calibration import load_calibration
from sim.calibrate import _measure as calibration_task
from perf.evaluate import evaluate
from perf.node import load_models, load_node
from perf.progress import Progress
from perf.scaleout import run_tasks

__all__ = ["FIELDS", "RANGES", "parse_axes", "explore", "pareto_front", "shipped_areas"]

FIELDS = {"pu_mhz": "clock", "lanes": "pu", "buffer_bytes": "pu", "kv_fifo_columns": "pu", "columns_per_row": "geometry"}
# field: (least, most) of a swept value; every one an integer but the clock. The most values keep a point's
# Verilator build to minutes.
RANGES = {"pu_mhz": (1.0, 10_000.0), "lanes": (1, 256), "buffer_bytes": (64, 1 << 20), "kv_fifo_columns": (0, 4096),
          "columns_per_row": (1, 4096)}
SLO_MS = 150
HEAD_DIM, FORMAT, SEED = 128, "fp16", 1
CONFIG_NAMES = tuple(tier.config_name for tier in MemoryTier)     # the tiers a point may change, by config file


def parse_axes(texts: list[str]) -> dict[tuple[str, str], tuple]:
    """``TIER.FIELD=v1,v2`` each; the fields of ``FIELDS``, the tiers of ``hw/configs``."""
    axes = {}
    for text in texts:
        name, _, values = text.partition("=")
        tier, _, field = name.partition(".")
        if tier not in CONFIG_NAMES or field not in FIELDS or not values:
            raise ValueError(f"--set: {text!r} is not TIER.FIELD=v1,v2,... with TIER in {', '.join(CONFIG_NAMES)} and "
                             f"FIELD in {', '.join(FIELDS)}")
        least, most = RANGES[field]
        parse = parse_float if field == "pu_mhz" else parse_int
        axes[(tier, field)] = tuple(check_number(parse(v, f"--set {name}"), f"--set {name}", least=least, most=most)
                                    for v in values.split(","))
    return axes


def _tier_text(tier: str, changes: dict[str, object]) -> str:
    """The shipped TOML of ``tier`` with ``changes`` (lanes also sets the column width, 16 bits a lane)."""
    text = resources.files("hw").joinpath("configs", f"{tier}.toml").read_text()
    if "lanes" in changes:
        changes = {**changes, "column_bits": 16 * int(changes["lanes"])}
    for field, value in changes.items():
        pattern = re.compile(rf"^{field}\s*=\s*[^#\n]*", re.M)
        line = f"{field} = {value} "
        text, n = pattern.subn(line, text, count=1)
        if not n:        # an optional field the shipped file leaves out
            text = text.replace("[pu]\n", f"[pu]\n{line}\n", 1)
    return text


def _tier_file(tier: str, changes: dict) -> str:
    text = _tier_text(tier, changes)
    path = build_dir() / "dse" / "tiers" / f"{tier}-{hashlib.sha256(text.encode()).hexdigest()[:12]}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(text)
    load_tier(path)                                     # bad values fail here, naming the file and field
    return str(path)


def _pu_area(task: tuple) -> dict:
    """NAND2 equivalents of one PU core (a Dask task)."""
    from hw.area import synthesize
    from hw.pu import PU

    fmt, lanes, head_dim, group, block = task
    report = synthesize(PU(format_by_name(fmt), FP32, lanes, head_dim, group, block), f"pu_l{lanes}_g{group}_b{block}")
    return {"nand2_eq": report.nand2_eq, "flops": report.flops}


def _evaluate(task: tuple) -> dict:
    models, calibration, preset = task
    return evaluate(models, SEED, calibration=calibration, preset=preset, headline_only=True, workers=1)


def shipped_areas() -> dict[tuple, dict]:
    """The PU areas that ship (``sim/configs/pu_area.json``, made by ``_pu_area``: the shipped tiers' PUs), by
    (format, lanes, head_dim, G, block)."""
    doc = json.loads(resources.files("sim").joinpath("configs", "pu_area.json").read_text())
    return {tuple(e["key"]): {"nand2_eq": e["nand2_eq"], "flops": e["flops"]} for e in doc["entries"]}


def _run_cached(kind: str, fn, tasks: list, labels: list, scheduler, workers, bar, known=None) -> list:
    """``fn`` over ``tasks`` with a file cache per task (and ``known`` results); the missing ones run as Dask
    tasks."""
    known = known or {}
    paths = [build_dir() / "dse" / kind / (hashlib.sha256(repr(j).encode()).hexdigest()[:16] + ".json") for j in tasks]
    for task, path in zip(tasks, paths):
        if task in known and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(known[task]))
    todo = [i for i, p in enumerate(paths) if not p.exists()]
    for i in range(len(tasks)):
        if i not in todo:
            bar.step(f"{labels[i]} (cached)")

    def done(k, result):
        paths[todo[k]].parent.mkdir(parents=True, exist_ok=True)
        paths[todo[k]].write_text(json.dumps(result))
        bar.step(labels[todo[k]])

    run_tasks(fn, [tasks[i] for i in todo], [labels[i] for i in todo], scheduler=scheduler, workers=workers,
             on_done=done)
    return [json.loads(p.read_text()) for p in paths]


def explore(axes: dict, models: list[str], preset: str = "paper", workers: int | None = None,
            scheduler: str | None = None, progress: bool = False) -> dict:
    """Every point of the axes' product, for each model: calibration (cached), area (cached), evaluation."""
    all_models = load_models()
    unknown = [m for m in models if m not in all_models]
    if unknown:
        raise ValueError(f"--models: unknown model {unknown[0]!r}; choose from {', '.join(all_models)}")
    groups = sorted({all_models[m].q_heads // all_models[m].kv_heads for m in models})
    names = list(axes)
    points = [dict(zip(names, values)) for values in itertools.product(*axes.values())]
    files = []
    for point in points:
        per_tier: dict[str, dict] = {}
        for (tier, field), value in point.items():
            per_tier.setdefault(tier, {})[field] = value
        files.append({tier: _tier_file(tier, changes) for tier, changes in per_tier.items()})
    # The calibration runs the points need, each once.
    cal_tasks = sorted({("pu", path, FORMAT, HEAD_DIM, g, SEED) for f in files for path in f.values() for g in groups}
                      | {("ru", path, FORMAT, HEAD_DIM, 4, SEED) for f in files for path in f.values()})
    area_tasks = sorted({_area_key(path_or_name, max(groups)) for f in files
                        for path_or_name in [*f.values(), *(t for t in CONFIG_NAMES if t not in f)]})
    bar = Progress(len(cal_tasks) + len(area_tasks) + len(points), "design-space sweep", progress)
    labels = [f"{kind} {path.rsplit('/', 1)[-1]} G={group}" for kind, path, _, _, group, _ in cal_tasks]
    cal = dict(zip(cal_tasks, _run_cached("calibration", calibration_task, cal_tasks, labels, scheduler, workers, bar)))
    area = dict(zip(area_tasks, _run_cached("area", _pu_area, area_tasks, [f"area {j}" for j in area_tasks], scheduler,
                                          workers, bar, known=shipped_areas())))
    shipped = load_calibration()
    eval_tasks = []
    for f in files:
        calibration = json.loads(json.dumps(shipped))
        for tier, path in f.items():
            entries = {"pu": [{**cal[("pu", path, FORMAT, HEAD_DIM, g, SEED)], "tier": tier} for g in groups],
                       "ru": [{**cal[("ru", path, FORMAT, HEAD_DIM, 4, SEED)], "tier": tier}]}
            for kind in ("pu", "ru"):
                keep = [e for e in calibration[kind] if e["tier"] != tier]
                calibration[kind] = keep + entries[kind]
        text = json.dumps(calibration, sort_keys=True)
        path = build_dir() / "dse" / "points" / f"calibration-{hashlib.sha256(text.encode()).hexdigest()[:12]}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        eval_tasks.append((models, str(path), preset))
    evaluations = run_tasks(_evaluate, eval_tasks, [f"evaluate point {i}" for i in range(len(points))],
                           scheduler=scheduler, workers=workers, on_done=lambda i, _: bar.step(f"point {i} evaluated"))
    node = load_node(None, preset)
    pus = {t: node.tiers[MemoryTier.from_config(t).key].banks for t in CONFIG_NAMES}
    rows = []
    for point, f, data in zip(points, files, evaluations):
        nand2 = sum(pus[t] * area[_area_key(f.get(t, t), max(groups))]["nand2_eq"] for t in CONFIG_NAMES)
        sram = {t: _sram_bytes(f.get(t, t), max(groups)) for t in CONFIG_NAMES}
        measured = {f"{t}.cycles_per_token_g{g}": cal[("pu", path, FORMAT, HEAD_DIM, g, SEED)]["cycles_per_token"]
                    for t, path in f.items() for g in groups}
        for model in models:
            pam = [r for r in data["online"] if r["model"] == model and r["system"] == "PAM" and r["slo_ms"] == SLO_MS]
            vllm = [r for r in data["online"] if r["model"] == model and r["system"] == "vLLM-offload"
                    and r["slo_ms"] == SLO_MS]
            rows.append({**{f"{t}.{k}": v for (t, k), v in point.items()}, "model": model, **measured,
                         "pam_tokens_per_s": float(np.mean([r["throughput"] for r in pam])),
                         "pam_offline_tokens_per_s": float(np.mean([r["throughput"] for r in data["offline"]
                                                                    if r["model"] == model and r["system"] == "PAM"
                                                                    and r["fits"]] or [0.0])),
                         # over the cells vLLM-offload serves at all (it serves none of OPT-175B's DocChat)
                         "vs_vllm_offload": float(np.mean([a["throughput"] / b["throughput"]
                                                           for a, b in zip(pam, vllm) if b["throughput"]] or [np.nan])),
                         "energy_per_token_j": float(np.mean([r["energy_per_token_j"] for r in pam])),
                         "pu_area_mnand2": nand2 / 1e6,
                         **{f"{t}.pu_sram_bytes": sram[t] for t in CONFIG_NAMES}})
    return {"axes": {f"{t}.{k}": list(v) for (t, k), v in axes.items()}, "models": models, "preset": preset,
            "slo_ms": SLO_MS, "rows": rows}


def _area_key(path_or_name: str, group: int) -> tuple:
    tier = load_tier(path_or_name)
    return FORMAT, tier.lanes, HEAD_DIM, group, block_tokens_for(tier.buffer_bytes, FP32, group)


def _sram_bytes(path_or_name: str, group: int) -> int:
    """Buffer, FIFO, q (in the KV format) and O (FP32) memories of one PU (bytes)."""
    tier = load_tier(path_or_name)
    return (tier.buffer_bytes + tier.kv_fifo_columns * tier.geometry.column_bits // 8
            + group * HEAD_DIM * format_by_name(FORMAT).bytes + group * HEAD_DIM * FP32.bytes)


def pareto_front(rows: list[dict], cost: str, gain: str = "pam_tokens_per_s") -> list[int]:
    """Indices of the rows no other row beats on both: lower ``cost`` and higher ``gain``."""
    front = []
    for i, r in enumerate(rows):
        if not any(o[cost] <= r[cost] and o[gain] >= r[gain] and (o[cost] < r[cost] or o[gain] > r[gain])
                   for o in rows):
            front.append(i)
    return front
