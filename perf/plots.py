"""``pam eval -o DIR``: PNG figures of an evaluation (the dict of ``perf.evaluate.evaluate``).

Each figure reads without the code open: models and energy parts by their names, units on every axis,
values on or beside the bars, every case that did not run marked with its reason, the paper's figure or
band drawn beside ours, and one model per panel where their scales differ.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from hw.tierconfig import MemoryTier

__all__ = ["draw_plots", "draw_tornado"]

# Energy parts of ``perf.node`` (the keys of a step's energy) as a reader names them.
ENERGY_PARTS = {"gpu_compute": "GPU compute", "kv_io": "KV from memory to GPU", "kv_pim": "attention in PIM",
                "pcie": "PCIe transfers", "static": "static power", "weights": "weights from HBM"}
PAPER = dict(color="0.55", hatch="//", edgecolor="0.3")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _panels(plt, count: int, width: float = 5.2, height: float = 4.2):
    fig, axes = plt.subplots(1, count, figsize=(min(16, width * count), height), squeeze=False)
    return fig, list(axes[0])


def _save(plt, fig, title: str, path: Path) -> Path:
    width, height = fig.get_size_inches()
    lines = textwrap.wrap(title, max(20, int(width * 11)))         # about 11 characters per inch at 11 pt
    fig.suptitle("\n".join(lines), fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 1 - (0.2 + 0.2 * len(lines)) / height))     # room kept for the title
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _not_run(ax, x: float, why: str) -> None:
    """Mark a case that did not run where its bar would stand."""
    ax.text(x, 0.02, f"not run:\n{why}", transform=ax.get_xaxis_transform(), rotation=90, ha="center",
            va="bottom", fontsize=7, color="firebrick")


def _stacked_bars(ax, stacks, ran, why) -> np.ndarray:
    """Bars stacked from ``stacks`` [(label, values)], each total written on top; a case that did not run
    (``ran`` false) gets its reason (``why``) instead. Returns the bars' x positions."""
    x = np.arange(len(ran))
    bottom = np.zeros(len(ran))
    for i, (label, values) in enumerate(stacks):
        values = np.where(ran, np.asarray(values, dtype=float), 0.0)
        ax.bar(x, values, bottom=bottom, label=label, color=f"C{i}")
        bottom += values
    for xi, ok, reason, total in zip(x, ran, why, bottom):
        if ok:
            ax.text(xi, total, f"{total:.3g}", ha="center", va="bottom", fontsize=6)
        else:
            _not_run(ax, xi, reason)
    return x


def _comparison_model(name: str, models: dict) -> str | None:
    return next((key for key in models if key in name), None)


def _short(comparison: str, models: dict) -> str:
    """A comparison's label without its model (the panel names it): 'offline vs vLLM write_doc'."""
    key = _comparison_model(comparison, models)
    text = comparison.replace(f", {key}", " ").replace(key, "") if key else comparison
    return " ".join(text.replace("throughput ", "").replace("vLLM-offload", "vLLM").split())


def _speedups(plt, data, out: Path) -> Path:
    """Ours against the paper, a panel per model: our mean over workloads and SLOs (or batches) with its
    min-max as an error bar, the paper's figure beside it."""
    models = data["models"]
    rows = [r for r in data["comparisons"] if isinstance(r["ours"], dict) and isinstance(r["paper"], (int, float))]
    groups = [(models[key], [r for r in rows if r["model"] == key]) for key in models]
    groups = [(name, g) for name, g in groups if g]
    fig, axes = _panels(plt, len(groups))
    for ax, (name, group) in zip(axes, groups):
        x = np.arange(len(group))
        mean = np.array([r["ours"]["mean"] for r in group])
        spread = [mean - [r["ours"]["min"] for r in group], [r["ours"]["max"] for r in group] - mean]
        ours = ax.bar(x - 0.2, mean, 0.4, yerr=spread, capsize=2, label="this model (mean, min-max)", color="C0")
        paper = ax.bar(x + 0.2, [r["paper"] for r in group], 0.4, label="paper", **PAPER)
        ax.bar_label(ours, fmt="%.3g", fontsize=7)
        ax.bar_label(paper, fmt="%.3g", fontsize=7)
        ax.set_xticks(x, [_short(r["comparison"], models) for r in group], rotation=30, ha="right", fontsize=7)
        ax.set_yscale("log")
        ax.axhline(1, color="grey", linewidth=0.8)
        ax.set_ylabel("speed-up over the baseline (x)")
        ax.set_title(f"{name} ({data.get('preset', '')} preset)", fontsize=10)
    axes[0].legend(fontsize=8)
    return _save(plt, fig, "PAM's speed-ups: this model next to the paper's figures", out / "speedup_vs_paper.png")


def _stacked_panels(plt, data, rows: list[dict], stacks, ran, why: str, tick, tick_style: dict, ylabel: str,
                    legend_size: int, width: float = 5.2):
    """A figure of stacked bars, a panel per model over its ``rows``: ``stacks(rows)`` gives the stacks
    (:func:`_stacked_bars`), ``ran(row)`` whether a case ran (else its ``why``, or ``why`` itself), ``tick(row)``
    its bar's label."""
    models = data["models"]
    fig, axes = _panels(plt, len(models), width=width)
    for ax, key in zip(axes, models):
        mine = [r for r in rows if r["model"] == key]
        x = _stacked_bars(ax, stacks(mine), [ran(r) for r in mine], [r.get("why") or why for r in mine])
        ax.set_xticks(x, [tick(r) for r in mine], **tick_style)
        ax.set_ylabel(ylabel)
        ax.set_title(models[key], fontsize=10)
    axes[0].legend(fontsize=legend_size)
    return fig


def _tier_breakdown(plt, data, out: Path) -> Path:
    """Attention per layer split by tier: stacked on a linear axis, so the heights show the shares."""
    fig = _stacked_panels(
        plt, data, data["ablation"],
        stacks=lambda rows: [(tier.label, [r["tier_ms"][tier] * 1e3 for r in rows]) for tier in MemoryTier],
        ran=lambda r: r["fits"], why="does not fit", tick=lambda r: f"{r['system']}\nbatch {r['batch']}",
        tick_style=dict(rotation=90, fontsize=6), ylabel="attention per layer (µs), by tier", legend_size=8,
        width=5.6)
    return _save(plt, fig, "Attention time per tier (Arxiv_sum contexts): PAM, its ablations and LS-PIM",
                 out / "tier_breakdown.png")


def _energy(plt, data, out: Path) -> Path:
    """Energy per output token at each system's peak, by part; systems that cannot serve are marked."""
    rows = [r for r in data["online"] if r["workload"] == "sharegpt" and r["slo_ms"] == 150]
    parts = sorted({k for r in rows for k in r["energy"]})
    fig = _stacked_panels(
        plt, data, rows,
        stacks=lambda mine: [(ENERGY_PARTS.get(part, part.replace("_", " ")),
                              [r["energy"].get(part, 0.0) / r["batch"] if r["throughput"] else 0.0 for r in mine])
                             for part in parts],
        ran=lambda r: bool(r["throughput"]), why="no batch meets the SLO", tick=lambda r: r["system"],
        tick_style=dict(rotation=45, ha="right", fontsize=7), ylabel="energy per output token (J)", legend_size=7)
    return _save(plt, fig, "Energy per output token at each system's peak (ShareGPT, 150 ms SLO)",
                 out / "energy_breakdown.png")


def _log_panel(ax, xlabel: str, ylabel: str, title: str) -> None:
    """A model's panel on log axes (base 2 along x)."""
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)


def _scaling(plt, data, out: Path) -> Path:
    """PAM over L-PIM as the batch grows, a panel per model, with the paper's band."""
    models = data["models"]
    band = next((r["paper"] for r in data["comparisons"] if "batch grows" in r["comparison"]
                 and isinstance(r["paper"], list)), None)
    fig, axes = _panels(plt, len(models))
    for ax, key in zip(axes, models):
        rows = [r for r in data["scaling"] if r["model"] == key]
        if band:
            ax.axhspan(*band, color="0.85", label=f"paper: {band[0]:g}-{band[1]:g}x")
        ran = [r for r in rows if r["speedup"]]
        ax.plot([r["batch"] for r in ran], [r["speedup"] for r in ran], marker="o", label="this model")
        for r in ran:
            ax.annotate(f"{r['speedup']:.3g}", (r["batch"], r["speedup"]), textcoords="offset points", xytext=(0, 5),
                        ha="center", fontsize=7)
        for r in rows:
            if not r["speedup"]:
                ax.axvline(r["batch"], color="firebrick", linestyle=":", linewidth=1)
                ax.text(r["batch"], 0.5, "not run: does not fit", transform=ax.get_xaxis_transform(), rotation=90,
                        fontsize=7, color="firebrick", ha="right", va="center")
        _log_panel(ax, "batch (requests)", "PAM / L-PIM throughput (x)", models[key])
    axes[0].legend(fontsize=8)
    return _save(plt, fig, "Scaling with batch (Arxiv_sum contexts)", out / "scaling.png")


def _contexts(plt, data, out: Path) -> Path:
    """Throughput against context, a panel per model; contexts a system cannot hold are marked."""
    models = data["models"]
    systems = list(dict.fromkeys(r["system"] for r in data["context_sweep"]))
    fig, axes = _panels(plt, len(models))
    for ax, key in zip(axes, models):
        rows = [r for r in data["context_sweep"] if r["model"] == key]
        for i, system in enumerate(systems):
            mine = [r for r in rows if r["system"] == system]
            pts = [(r["context"], r["throughput"]) for r in mine if r["fits"]]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=system, color=f"C{i}")
            missing = [r["context"] for r in mine if not r["fits"]]
            if missing:
                ax.plot(missing, [0.03 + 0.04 * i] * len(missing), "x", color=f"C{i}",
                        transform=ax.get_xaxis_transform(), label=f"{system}: does not fit")
        _log_panel(ax, "context (tokens)", f"tokens/s at batch {data['context_sweep'][0]['batch']}", models[key])
    axes[0].legend(fontsize=6)
    return _save(plt, fig, "Throughput against context", out / "context_sweep.png")


def _crossover(plt, data, out: Path) -> Path:
    """PAM over LS-PIM and over vLLM-offload against the mean context, a panel per model, the context where PAM's
    placement starts to pay marked."""
    models = data["models"]
    fig, axes = _panels(plt, len(models))
    for ax, key in zip(axes, models):
        rows = [r for r in data["crossover"] if r["model"] == key]
        for i, (field, label) in enumerate((("pam_vs_ls_pim", "PAM / LS-PIM"), ("pam_vs_vllm", "PAM / vLLM-offload"))):
            pts = [(r["context"], r[field]) for r in rows if r[field] not in (None, float("inf"))]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=label, color=f"C{i}")
        ax.axhline(1.0, color="grey", lw=0.8)
        pays = data["crossover_pays_at"].get(key)
        if pays:
            ax.axvline(pays, color="C0", ls="--", lw=0.8, label=f"placement pays from {pays:,}")
        _log_panel(ax, "mean context (tokens)", "throughput ratio (largest batch within the SLO)", models[key])
    axes[0].legend(fontsize=6)
    return _save(plt, fig, "Where PAM's placement pays", out / "crossover.png")


def draw_plots(data: dict, out) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    return [f(plt, data, out) for f in (_speedups, _tier_breakdown, _energy, _scaling, _contexts, _crossover)]


def draw_tornado(result: dict, out) -> Path:
    """``pam eval --sweep``: a panel per headline, a bar per assumption from its lowest to its highest relative
    change of that headline, assumptions in the sweep's ranking (largest swing on top), values at the ends."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    heads = list(result["base"])
    names = result["ranking"]
    cols = 3
    rows = -(-len(heads) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(16, 2.2 + 0.28 * len(names) * rows), squeeze=False)
    for ax, head in zip(axes.flat, heads):
        y = np.arange(len(names))[::-1]
        for yi, name in zip(y, names):
            changes = [100 * c for c in result["swings"][name][head] if np.isfinite(c)]
            if not changes:
                continue
            lo, hi = min(changes + [0.0]), max(changes + [0.0])
            ax.barh(yi, hi - lo, left=lo, color="C3" if abs(hi) + abs(lo) > 10 else "C0", height=0.6)
            ax.text(hi, yi, f" {hi:+.0f}%", va="center", fontsize=6)
            ax.text(lo, yi, f"{lo:+.0f}% ", va="center", ha="right", fontsize=6)
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.margins(x=0.2)                  # room for the values at the bars' ends
        low, high = ax.get_xlim()
        ax.set_xlim(min(low, -2.0), max(high, 2.0))      # a row nothing moves keeps a readable ±2% axis
        ax.set_yticks(y, names, fontsize=6)
        ax.set_xlabel("change of the ratio from the base (%)", fontsize=7)
        ax.set_title(f"{head} (base {result['base'][head]:.3g}x)", fontsize=7)
    for ax in list(axes.flat)[len(heads):]:
        ax.axis("off")
    return _save(plt, fig, f"Sensitivity of the headline ratios ({result['preset']} preset): each assumption over "
                 f"its swept values", out / "tornado.png")


def draw_pareto(result: dict, front_area: list[int], front_energy: list[int], out) -> Path:
    """``pam sweep``: PAM's throughput against the PUs' area and against energy per token, a point per design
    and model, the Pareto front of each panel joined."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    fig, axes = _panels(plt, 2)
    rows, gain = result["rows"], result["metric"]
    axis_names = list(result["axes"])
    for ax, cost, label, front in ((axes[0], "pu_area_mnand2", "PU area, all tiers (M NAND2 eq)", front_area),
                                   (axes[1], "energy_per_token_j", "PAM energy per output token (J)", front_energy)):
        for k, model in enumerate(result["models"]):
            mine = [r for r in rows if r["model"] == model]
            ax.scatter([r[cost] for r in mine], [r[gain] for r in mine], s=18, color=f"C{k}", label=model)
        line = sorted((rows[i][cost], rows[i][gain]) for i in front)
        ax.plot(*zip(*line), color="grey", linewidth=0.8, linestyle="--", label="Pareto front")
        for i in front:
            r = rows[i]
            ax.annotate(", ".join(f"{r[a]:g}" for a in axis_names), (r[cost], r[gain]), fontsize=5,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(label, fontsize=7)
        ax.set_ylabel(f"PAM tokens/s, online p99 TPOT <= {result['slo_ms']} ms" if gain == "pam_tokens_per_s"
                      else "PAM tokens/s, offline", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=6)
    return _save(plt, fig, f"Design-space sweep ({result['preset']} preset) over {', '.join(axis_names)}; labels: "
                           f"the front's values in that order", out / "pareto.png")
