"""``pam eval --plots DIR``: PNG figures of an evaluation (the dict of ``sim.model.evaluate.evaluate``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["draw_plots"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(plt, fig, ax, title: str, path: Path) -> Path:
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _speedups(plt, data, out: Path) -> Path:
    rows = [r for r in data["comparisons"] if isinstance(r["ours"], (int, float)) and r["paper"] is not None
            and not isinstance(r["paper"], list)]
    labels = [r["comparison"].replace("throughput ", "").replace("vLLM-offload", "vLLM") for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(12, 5))
    ax.bar(x - 0.2, [r["ours"] for r in rows], 0.4, label="this model")
    ax.bar(x + 0.2, [r["paper"] for r in rows], 0.4, label="paper")
    ax.set_yscale("log")
    ax.set_xticks(x, labels, rotation=35, ha="right", fontsize=7)
    ax.set_ylabel("speed-up (x)")
    ax.axhline(1, color="grey", linewidth=0.8)
    ax.legend()
    return _save(plt, fig, ax, "PAM's speed-ups: this model next to the paper's headline figures", out / "speedup_vs_paper.png")


def _tier_breakdown(plt, data, out: Path) -> Path:
    rows = [r for r in data["ablation"] if r["fits"]]
    labels = [f"{data['models'][r['model']]}\n{r['system']} b{r['batch']}" for r in rows]
    tiers = np.array([r["tier_ms"] for r in rows])
    fig, ax = plt.subplots(figsize=(max(10, 0.45 * len(rows)), 5))
    bottom = np.zeros(len(rows))
    for i, name in enumerate(("HBM", "DDR", "SSD")):
        ax.bar(np.arange(len(rows)), tiers[:, i], bottom=bottom, label=name)
        bottom += tiers[:, i]
    ax.set_yscale("symlog", linthresh=0.01)
    ax.set_xticks(np.arange(len(rows)), labels, rotation=90, fontsize=6)
    ax.set_ylabel("attention per layer (ms), per tier")
    ax.legend()
    return _save(plt, fig, ax, "Attention time per tier (Arxiv_sum contexts): PAM, its ablations and LS-PIM", out / "tier_breakdown.png")


def _energy(plt, data, out: Path) -> Path:
    rows = [r for r in data["online"] if r["workload"] == "sharegpt" and r["slo_ms"] == 150 and r["throughput"]]
    parts = sorted({k for r in rows for k in r["energy"]})
    fig, ax = plt.subplots(figsize=(12, 5))
    bottom = np.zeros(len(rows))
    for part in parts:
        vals = np.array([r["energy"].get(part, 0.0) / r["batch"] for r in rows])
        ax.bar(np.arange(len(rows)), vals, bottom=bottom, label=part)
        bottom += vals
    ax.set_xticks(np.arange(len(rows)), [f"{data['models'][r['model']]}\n{r['system']}" for r in rows],
                  rotation=90, fontsize=7)
    ax.set_ylabel("energy per output token (J)")
    ax.legend(fontsize=7)
    return _save(plt, fig, ax, "Energy per output token at each system's peak (ShareGPT, 150 ms SLO)", out / "energy_breakdown.png")


def _scaling(plt, data, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, name in data["models"].items():
        rows = [r for r in data["scaling"] if r["model"] == key]
        ax.plot([r["batch"] for r in rows], [r["speedup"] or np.nan for r in rows], marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch")
    ax.set_ylabel("PAM / L-PIM throughput")
    ax.legend()
    return _save(plt, fig, ax, "Scaling with batch (Arxiv_sum contexts)", out / "scaling.png")


def _contexts(plt, data, out: Path) -> Path:
    models = list(data["models"])
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 4), squeeze=False)
    for ax, key in zip(axes[0], models):
        rows = [r for r in data["context_sweep"] if r["model"] == key]
        for i, system in enumerate(dict.fromkeys(r["system"] for r in data["context_sweep"])):
            pts = [(r["context"], r["throughput"]) for r in rows if r["system"] == system and r["fits"]]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=system, color=f"C{i}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("context (tokens)")
        ax.set_title(data["models"][key])
    axes[0][0].set_ylabel(f"tokens/s at batch {data['context_sweep'][0]['batch']}")
    axes[0][0].legend(fontsize=7)
    return _save(plt, fig, axes[0][-1], axes[0][-1].get_title(), out / "context_sweep.png")


def draw_plots(data: dict, out) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    return [f(plt, data, out) for f in (_speedups, _tier_breakdown, _energy, _scaling, _contexts)]
