"""The request-level serving simulator (issue 15, item 3) and the presets (item 4)."""

import numpy as np
import pytest

from perf.evaluate import evaluate_presets
from perf.node import load_models, load_node, step
from perf.serving import StepTimer, kv_capacity_tokens, peak_under_slo, poisson_arrivals, simulate
from perf.workloads import lengths

MODELS = load_models()


@pytest.mark.parametrize("preset", ["paper", "physical"])
@pytest.mark.parametrize("system", ["PAM", "vLLM-offload", "L-PIM"])
def test_at_a_fixed_batch_the_simulator_agrees_with_the_node_model(system, preset):
    """A closed batch of 64 one-token prompts decoding 2,000 tokens each: the simulator's throughput against the
    node model's steady step at the batch's mean context (1 + 1,000), within 2%."""
    node, model = load_node(preset=preset), MODELS["llama3_70b"]
    batch, out = 64, 2000
    r = simulate(StepTimer(node, model, system), np.ones(batch, int), np.full(batch, out), np.zeros(batch))
    steady = step(node, model, system, batch, 1 + out / 2).throughput
    print(f"{system} ({preset}): simulator {r.throughput:,.0f} tokens/s, node model {steady:,.0f}")
    assert r.throughput == pytest.approx(steady, rel=0.02) and r.preemptions == 0


def test_requests_that_outgrow_the_kv_are_preempted_and_still_finish():
    node, model = load_node(preset="physical"), MODELS["opt_175b"]
    timer = StepTimer(node, model, "AttAcc")
    capacity = kv_capacity_tokens(node, model, "AttAcc")
    n = 40
    inputs, outputs = np.full(n, capacity // (2 * n)), np.full(n, capacity // 20)     # 2.5x the KV when done
    r = simulate(timer, inputs, outputs, np.zeros(n))
    print(f"capacity {capacity} tokens, {r.preemptions} preemptions, {r.steps} steps")
    assert r.preemptions > 0 and np.isfinite(r.tpot_s["p99"]) and np.isfinite(r.ttft_s["p99"])
    assert r.throughput * (r.steps and 1) > 0


def test_a_tighter_slo_never_gives_more_throughput_and_the_run_is_seeded():
    node, model = load_node(preset="paper"), MODELS["opt_175b"]
    inputs, outputs = lengths("sharegpt", 2000, seed=3)
    timer, cache = StepTimer(node, model, "vLLM-offload"), {}
    peaks = [peak_under_slo(timer, lambda n: lengths("sharegpt", n, seed=3), slo, 3, 299 * 0.2, 300, cache)
             for slo in (0.05, 0.1, 0.2)]
    print([(round(p["throughput"]), p["limit"], round(p["tpot_ms"]["p99"], 1)) for p in peaks])
    assert peaks[0]["throughput"] <= peaks[1]["throughput"] <= peaks[2]["throughput"]
    assert all(p["tpot_ms"]["p99"] <= slo * 1e3 for p, slo in zip(peaks, (50, 100, 200)) if p["throughput"])
    a = simulate(timer, inputs[:500], outputs[:500], poisson_arrivals(1.0, 500, 3))
    b = simulate(timer, inputs[:500], outputs[:500], poisson_arrivals(1.0, 500, 3))
    c = simulate(timer, inputs[:500], outputs[:500], poisson_arrivals(1.0, 500, 4))
    assert a == b and a != c


def test_bad_runs_are_refused():
    timer = StepTimer(load_node(), MODELS["llama3_70b"], "PAM")
    with pytest.raises(ValueError, match="at least 10 requests"):
        simulate(timer, np.ones(5, int), np.ones(5, int), np.zeros(5))
    with pytest.raises(ValueError, match="exceeds the KV capacity"):
        simulate(timer, np.full(10, 10 ** 9), np.ones(10, int), np.zeros(10))


def test_presets_are_checked_and_overrides_name_real_figures():
    with pytest.raises(ValueError, match="unknown preset 'fast'"):
        load_node(preset="fast")
    with pytest.raises(ValueError, match="gpu.flops: not a figure"):
        load_node(overrides={"gpu.flops": 1.0})
    with pytest.raises(ValueError, match="gpu.fp16_tflops: 'x' is not a float"):
        load_node(overrides={"gpu.fp16_tflops": "x"})
    assert load_node(preset="paper").vllm["kv_home"] == "host"
    assert load_node(preset="physical").vllm["kv_home"] == "hbm"


def test_the_two_presets_differ_only_where_vllm_is_compared():
    """Every difference between the presets' tables traces to their one field, vllm.kv_home: the rows that do not
    involve vLLM-offload are equal."""
    runs = evaluate_presets(("paper", "physical"), ["qwen2_5_32b"], overrides={"serving.window_requests": 100})
    paper, physical = runs["paper"], runs["physical"]
    for a, b in zip(paper["comparisons"], physical["comparisons"]):
        if "vLLM" in a["comparison"]:
            assert a["ours"] != b["ours"], a["comparison"]
        else:
            assert a["ours"] == b["ours"], a["comparison"]
