"""``pam calibrate``: measure the RTL's cycle costs and write the calibration file the system model reads.

For every tier and GQA group size it builds the tier's bank (or flash die on
a channel shared by ``dies_per_channel`` dies) with its PU, runs one kv head
of ``n`` and ``2n`` heavy-tailed tokens under Verilator, and checks both
partials bit for bit against the golden model. The difference of the two runs
gives the marginal cycles per token; the rest is the fixed cost of a run
(loading q, draining the partials). ``n`` is a whole number of PU blocks of
at least 256 tokens, so both runs are in steady state.

The reduction unit is measured the same way, under Amaranth's simulator: a
merge of ``n`` and ``2n`` partials gives cycles per merged partial.

Cycles are in each tier's memory (controller) clock, which the file records
(``clock_mhz``), next to the clock the PU runs at beside it (``pu_mhz``,
``hw.puclock``).
The system model (``perf/node.py``) reads only this file (its format: ``perf/calibration.py``) and the configs.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import subprocess
import time
from pathlib import Path

from golden.formats import FP32, format_by_name
from golden.hwmodel import HwConfig, bank_partial, block_tokens_for, prescale_query
from hw.pu import check_pu_shape
from hw.ru import RU
from hw.tierconfig import load_tier
from sim.build_dir import build_dir
from perf.calibration import CALIBRATION_FILE, check_calibration, load_calibration, merge_calibration, shipped_calibration_path
from perf.progress import Progress
from sim.inputs import output_file
from perf.scaleout import run_tasks
from sim.runs.pu_on_bank import run_pu_on_bank
from sim.pysim.ru import partial_payload, run_ru
from golden.traces.format import generate_trace

__all__ = ["calibrate", "calibrate_system", "check_calibration_run", "default_output_path", "write_calibration"]
MIN_TOKENS = 256


def _tokens_for(block: int) -> int:
    return block * -(-MIN_TOKENS // block)


def _pu_entry(tier_name: str, fmt: str, head_dim: int, group: int, seed: int) -> dict:
    tier = load_tier(tier_name)
    sharers = tier.timing.dies_per_channel if tier.is_flash else 1
    block = block_tokens_for(tier.buffer_bytes, FP32, group)
    n = _tokens_for(block)
    trace = generate_trace(tokens=2 * n, q_heads=group, kv_heads=1, head_dim=head_dim, dtype=fmt, dist="heavy",
                           seed=seed)
    # A flash die only gets the pages the runs need: a full-size page array would take Yosys hours.
    columns = 2 * n * 2 * (head_dim // tier.lanes)                     # K and V of the 2n-token run
    rows = -(-columns // tier.geometry.columns_per_row) + 2 if tier.is_flash else 512
    runs = [run_pu_on_bank(trace, tier_name=tier_name, tokens=t, sharers=sharers, bank_alone=False, rows=rows)
            for t in (n, 2 * n)]
    bad = [r.mismatch for r in runs if not r.bit_exact]
    if bad:
        raise ValueError(f"calibration run {tier_name} G={group} is not bit-exact: {bad[0]}")
    per_token = (runs[1].cycles - runs[0].cycles) / n
    return {"tier": tier_name, "format": fmt, "head_dim": head_dim, "group": group, "lanes": tier.lanes,
            "block_tokens": block, "sharers": sharers, "clock_mhz": tier.memory_mhz, "pu_mhz": tier.pu_mhz,
            "tokens": [n, 2 * n], "cycles": [runs[0].cycles, runs[1].cycles],
            "cycles_per_token": per_token, "fixed_cycles": runs[0].cycles - per_token * n,
            "read_bus_utilisation": runs[1].utilisation, "bit_exact": True}


def _ru_entry(tier_name: str, fmt_name: str, head_dim: int, merges: int, seed: int, lanes: int | None = None) -> dict:
    tier = load_tier(tier_name)
    if lanes is not None:
        tier = dataclasses.replace(tier, lanes=lanes)
    fmt = format_by_name(fmt_name)
    trace = generate_trace(tokens=2 * merges, q_heads=1, kv_heads=1, head_dim=head_dim, dtype=fmt_name, seed=seed)
    q = prescale_query(trace.q[0], fmt)
    cfg = HwConfig(fmt, FP32, tier.lanes, block_tokens_for(tier.buffer_bytes, FP32, 1))
    parts = [bank_partial(q, trace.k[t:t + 1, 0], trace.v[t:t + 1, 0], cfg) for t in range(2 * merges)]
    cycles = []
    for n in (merges, 2 * merges):
        _, c, _ = run_ru(RU(fmt, FP32, tier.lanes, head_dim), [[partial_payload(p, 0) for p in parts[:n]]])
        cycles.append(c)
    per_merge = (cycles[1] - cycles[0]) / merges
    return {"tier": tier_name, "format": fmt_name, "head_dim": head_dim, "lanes": tier.lanes,
            "clock_mhz": tier.memory_mhz, "partials": [merges, 2 * merges], "cycles": cycles,
            "cycles_per_partial": per_merge, "fixed_cycles": cycles[0] - per_merge * merges}


def calibrate_system(spec, per_bank=(32, 64), seed: int = 1) -> dict:
    """Calibrate the scaled-down system top itself (the device bench): every bank gets ``n`` and then ``2n``
    tokens (round robin), and each device's PU span gives its tier's cycles per token and fixed cycles. The
    RUs are measured at the top's lanes and head_dim. ``spec`` is a ``sim.runs.system.SystemSpec``."""
    from sim.runs.system import spread_placement, system_step

    banks = sum(d.bank_groups * d.banks for d in spec.devices)
    figures = []
    for n in per_bank:
        trace = generate_trace(tokens=n * banks, q_heads=spec.group, kv_heads=1, head_dim=spec.head_dim,
                               dtype=spec.format.name, dist="heavy", seed=seed)
        step = system_step(spec, trace, spread_placement(spec, n * banks))
        if not step.bit_exact:
            raise ValueError(f"system calibration run with {n} tokens per bank is not bit-exact")
        figures.append(step.figures())
    (n1, n2), pu = per_bank, []
    for d, dev in enumerate(spec.devices):
        spans = [f["devices"][d]["pu_span"] for f in figures]
        per_token = (spans[1] - spans[0]) / (n2 - n1)
        tier = dev.config()
        pu.append({"tier": dev.tier, "format": spec.format.name, "head_dim": spec.head_dim, "group": spec.group,
                   "lanes": tier.lanes, "block_tokens": spec.block(tier), "clock_mhz": tier.memory_mhz,
                   "tokens": [n1, n2], "cycles": spans, "cycles_per_token": per_token,
                   "fixed_cycles": spans[0] - per_token * n1, "bit_exact": True})
    lanes = spec.devices[0].config().lanes
    ru = [_ru_entry(dev.tier, spec.format.name, spec.head_dim, 4, seed, lanes) for dev in spec.devices]
    return {"generated_by": "calibrate_system", "format": spec.format.name, "head_dim": spec.head_dim,
            "seed": seed, "pu": pu, "ru": ru, "tail_cycles": figures[1]["tail_cycles"]}


def _commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except OSError:
        return None


def _measure(task: tuple) -> dict:
    kind, *args = task
    return _pu_entry(*args) if kind == "pu" else _ru_entry(*args)


def _writable_output(out) -> Path:
    """The output path (default :func:`default_output_path`), refused when it is a shipped file (by any link:
    ``sim.inputs.output_file``), a folder or cannot be written."""
    return output_file(out, "--out") if out else default_output_path()


def _check_shapes(tiers, groups, head_dim: int, fmt: str) -> None:
    """Refuse an unknown format or tier and PU shapes that cannot be built (``hw.pu.check_pu_shape``: no PU is
    made), before the first build."""
    format_by_name(fmt)
    for name in tiers:
        tier = load_tier(name)
        for group in groups:
            check_pu_shape(tier.lanes, head_dim, group, block_tokens_for(tier.buffer_bytes, FP32, group))


def check_calibration_run(tiers, groups, head_dim: int, fmt: str, out=None, merge_with=None) -> None:
    """Refuse, before the first (minutes-long) build, a run whose tiers, PU shapes, output or base file would
    fail at its end."""
    _check_shapes(tiers, groups, head_dim, fmt)
    _writable_output(out)
    base_path = Path(merge_with) if merge_with else shipped_calibration_path()
    merge_calibration({"format": fmt, "head_dim": head_dim, "pu": [], "ru": []}, load_calibration(base_path),
                      base_path)


def calibrate(tiers=("hbm3", "ddr4", "ssd"), groups=(1, 5, 8), head_dim: int = 128, fmt: str = "fp16",
              seed: int = 1, progress: bool = False, workers: int | None = None, scheduler: str | None = None) -> dict:
    """Measure every (tier, group) PU and every tier's RU; returns the calibration as a dict.

    The runs are independent Dask tasks (``perf.scaleout``): on an embedded local cluster of ``workers``
    processes (default: one per core), on the cluster at ``scheduler``, or here one after another with
    ``workers=1``. Each has its own Verilator build; builds of one configuration are shared through the
    build cache's lock. The result does not depend on where the tasks ran."""
    _check_shapes(tiers, groups, head_dim, fmt)
    t0 = time.perf_counter()
    tasks = [("pu", tier, fmt, head_dim, group, seed) for tier in tiers for group in groups]
    tasks += [("ru", tier, fmt, head_dim, 4, seed) for tier in tiers]
    bar = Progress(len(tasks), "calibration", progress)

    def done(i, entry):
        bar.step(f"PU {entry['tier']} G={entry['group']}: {entry['cycles_per_token']:.2f} cycles/token "
                 f"(+{entry['fixed_cycles']:.0f})" if tasks[i][0] == "pu" else
                 f"RU {entry['tier']}: {entry['cycles_per_partial']:.1f} cycles/partial")

    labels = [f"{kind}-{tier}-g{group}" for kind, tier, _, _, group, _ in tasks]
    results = run_tasks(_measure, tasks, labels, scheduler=scheduler, workers=workers, on_done=done)
    pu = [r for r, task in zip(results, tasks) if task[0] == "pu"]
    ru = [r for r, task in zip(results, tasks) if task[0] == "ru"]
    return {"generated_by": "pam calibrate", "date": datetime.date.today().isoformat(), "commit": _commit(),
            "format": fmt, "head_dim": head_dim, "seed": seed, "wall_s": round(time.perf_counter() - t0, 1),
            "pu": pu, "ru": ru}


def default_output_path() -> Path:
    """Where ``pam calibrate`` writes unless told: the build directory's ``calibration.json``."""
    return build_dir() / CALIBRATION_FILE


def write_calibration(data: dict, path: str | os.PathLike | None = None, merge_with: str | os.PathLike | None = None
                      ) -> Path:
    """Write ``data`` merged over ``merge_with`` (default: the shipped calibration) to ``path`` (default:
    :func:`default_output_path`), after checking the result as :func:`load_calibration` does. The shipped
    file is refused as the output (by any link to it); a missing folder is created."""
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    path = _writable_output(path)
    shipped = shipped_calibration_path()
    base_path = Path(merge_with) if merge_with else shipped
    merged = merge_calibration(data, load_calibration(base_path), base_path)
    check_calibration(merged, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n")
    return path


