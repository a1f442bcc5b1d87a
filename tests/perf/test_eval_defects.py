"""The evaluation's modelling rules that are easy to get wrong, each held by a test."""

import numpy as np
import pytest

from host.scheduler import TierScheduler
from hw.tierconfig import MemoryTier
from golden.traces.activations import activated_stream
from sim.cli import main
from perf.evaluate import compare
from perf.host_profile import PROFILE_TOKENS, host_profile
from perf.node import dense_layer_s, head_s, load_models, load_node, step
from perf.workloads import sample

MODELS = load_models()


def test_noattn_fetches_over_every_link():
    """PAM-noattn ships DDR and SSD tokens over all 8 PCIe links (and SSD's over all 4 NVMe links):
    one GPU with 8x the link is the same aggregate, so the same fetch."""
    model = MODELS["opt_175b"]
    base = step(load_node(), model, "PAM-noattn", 256, 7000.0)
    assert base.tokens_share[1] + base.tokens_share[2] > 0.5          # most of the KV is off HBM
    one_link = load_node(overrides={"platform.gpus": 1, "links.hbm_ddr": 8 * 64.0})
    assert step(one_link, model, "PAM-noattn", 256, 7000.0).tier_s[0] == pytest.approx(base.tier_s[0], rel=1e-12)


def test_host_profile_reads_tiers_before_the_step_moves_them():
    """The tiers a step attends over are those the earlier steps left, replayed here by hand."""
    fractions, sparsity, x, y, steps, warmup = (0.2, 0.3, 0.5), 0.0625, 40.0, 6.0, 6, 2
    profile = host_profile(fractions, sparsity, True, x, y, steps=steps, warmup=warmup, new_tokens="fill")
    total = PROFILE_TOKENS + steps + warmup
    caps = [int(round(f * total)) for f in fractions[:2]]
    scheduler = TierScheduler((*caps, total - sum(caps)), x, y, max_moves=256)
    for token in range(PROFILE_TOKENS):
        scheduler.add(token)
    shares = []
    for i, (context, tokens, scores) in enumerate(activated_stream(np.random.default_rng(1), PROFILE_TOKENS,
                                                                   warmup + steps, sparsity, True)):
        scheduler.add(context - 1)
        tiers = np.array([scheduler.tier_of(int(t)) for t in tokens])
        scheduler.apply_scores(dict(zip(tokens.tolist(), scores.tolist())), 0.6)
        scheduler.step()
        if i >= warmup:
            shares.append([np.mean(tiers == t) for t in MemoryTier])
    assert profile.activated_share == pytest.approx(tuple(np.mean(shares, axis=0)), abs=1e-12)


def test_ddr_and_ssd_tiers_pay_for_q_and_the_partials():
    """Per layer, q of every query head (16-bit) down and (m, l, O) in FP32 up over the tier's links."""
    model, batch = MODELS["opt_175b"], 256
    slow, fast = load_node(), load_node(overrides={"links.hbm_ddr": 1e12})
    a, b = (step(n, model, "L-PIM", batch, 7000.0) for n in (slow, fast))
    assert a.tokens_share[1] > 0
    q_and_partials = batch * model.q_heads * (128 * 2 + 130 * 4)
    assert a.tier_s[1] - b.tier_s[1] == pytest.approx(q_and_partials / (8 * 64e9), rel=1e-3)


def test_the_all_reduce_moves_its_bytes_over_nvlink():
    """nvlink_gb_s counts: two all-reduces per layer, a ring's 2(p-1)/p of batch/2 x hidden x 2 B."""
    model, batch = MODELS["llama3_70b"], 512
    a = dense_layer_s(load_node(), model, batch)
    b = dense_layer_s(load_node(overrides={"gpu.nvlink_gb_s": 900.0}), model, batch)
    message = batch / 2 * model.hidden * 2
    per_allreduce = 2 * 3 / 4 * message * (1 / 450e9 - 1 / 900e9)
    assert a - b == pytest.approx(2 * per_allreduce, rel=1e-9)


def test_vllm_overlaps_its_pcie_fetch_with_the_gpu_work():
    """The offloaded KV streams in while the GPU computes: layer = max(dense + HBM part, PCIe); the step's new
    tokens go to the KV's home in host DDR over the same links."""
    node, model, batch, context = load_node(preset="paper"), MODELS["llama3_70b"], 64, 2000.0
    r = step(node, model, "vLLM-offload", batch, context)
    pcie = batch * (context + 1) * node.kv_bytes_per_token(model) / model.layers / (8 * 64e9)
    dense = dense_layer_s(node, model, batch)
    assert pcie > dense                            # the case where the overlap matters
    assert r.step_s == pytest.approx(model.layers * pcie + head_s(node, model, batch), rel=1e-12)


def test_the_host_scheduler_time_is_charged():
    """A step is never shorter than the host's Eq. 7 + Algorithm 2 over every request's scored and
    moved tokens at the measured cost per token, split over its threads."""
    model, batch, context = MODELS["llama3_70b"], 64, 8000.0
    slow = load_node(overrides={"host.scheduler_us_per_token": 1000.0})
    r = step(slow, model, "PAM", batch, context)
    scored, moved = 0.0625 * context, r.moved_per_step * context
    expected = batch * (scored + moved) * 1000e-6 / 16
    assert r.host_s == pytest.approx(expected, rel=1e-12) and r.step_s == pytest.approx(expected, rel=1e-12)
    assert step(slow, model, "L-PIM", batch, context).host_s == 0.0           # no scheduler without sparsity


def test_sharegpt_has_the_stated_input_and_output_means():
    """ShareGPT's mean input/output is the stated 183/299."""
    s = sample("sharegpt", seed=2)
    print(f"ShareGPT input {s['input_mean']:.1f}, output {s['output_mean']:.1f}")
    assert s["input_mean"] == pytest.approx(183, rel=0.03) and s["output_mean"] == pytest.approx(299, rel=0.03)


def test_every_comparison_is_given_per_model_with_its_spread():
    """No cross-model mean hides the spread: each row names its model, ratios carry min and max."""
    online = [{"model": m, "system": s, "workload": "sharegpt", "slo_ms": 150, "throughput": t,
               "energy_per_token_j": 1.0}
              for m, ts in (("a", (4.0, 1.0, 2.0)), ("b", (3.0, 3.0, 1.0))) for s, t in zip(("PAM", "LS-PIM",
                                                                                             "vLLM-offload"), ts)]
    ablation = [{"model": m, "batch": b, "system": s, "fits": True, "attention_ms": t}
                for m, f in (("a", 1.0), ("b", 125.0)) for b in (16, 256) for s, t in (("PAM", 1.0), ("LS-PIM", f))]
    rows = compare(online, [], ablation, [], ["a", "b"])
    vs_ls = [r for r in rows if r["comparison"].startswith("online throughput vs LS-PIM")]
    assert [(r["model"], r["ours"]["mean"]) for r in vs_ls] == [("a", 4.0), ("b", 1.0)]
    att = [r["ours"]["mean"] for r in rows if "small batch" in r["comparison"]]
    assert att == [1.0, 125.0]                      # not their mean, 63
    assert all(r["model"] in ("a", "b") for r in rows)


def test_the_energy_row_prints_one_saving_per_model(capsys):
    """The energy line gives each model's saving as one range, lowest to highest."""
    assert main(["eval", "--models", "qwen2_5_32b,llama3_70b", "--preset", "physical", "--window-requests", "100"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "energy per output token" in line]
    assert len(lines) == 2 and all("% lower" in line and "53.1% lower to 92.7% lower" in line for line in lines)
