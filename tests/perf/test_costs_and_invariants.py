"""The system model's costs, each charged where it is paid, and invariants any honest model keeps: physics,
never agreement with the paper's figures."""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from perf.host_profile import mapping_balance
from perf.node import (SYSTEMS, exchange_bytes, flash_program_bandwidth, flash_read_bandwidth, flash_write_dwpd,
                       link_bandwidth, load_models, load_node, pim_step, step)
from perf.serving import StepTimer, peak_under_slo, poisson_arrivals, simulate
from perf.workloads import lengths

MODELS = load_models()
NODE = load_node()
OPT, LLAMA = MODELS["opt_175b"], MODELS["llama3_70b"]


def test_ssd_migrations_share_the_dies_with_the_ssd_attention():
    """The step is never shorter than the SSD dies' attention plus the migrations' page reads and programs, one
    after another on the same dies (not overlapped as max(step, migration))."""
    r = step(NODE, OPT, "PAM", 256, 5750.0)
    assert r.flash_write_bytes > 0 and r.tokens_share[2] > 0.5
    ssd_attention = r.tier_s[2] - (r.tier_s[2] and NODE.tiers["ssd"].sync_s)
    swaps = r.flash_write_bytes                    # every DDR->SSD move mirrors an SSD->DDR one; new tokens go to HBM
    dies = ((ssd_attention - _exchange(NODE, OPT, 256)) * OPT.layers + swaps / flash_read_bandwidth(NODE)
            + r.flash_write_bytes / flash_program_bandwidth(NODE))
    assert r.busy_s["ssd_dies"] == pytest.approx(dies, rel=1e-9)
    assert r.step_s >= dies and r.busy_s["ssd_dies"] > max(ssd_attention * OPT.layers,
                                                           swaps / flash_read_bandwidth(NODE))


def _exchange(node, model, batch):
    """The SSD tier's q and partials per layer: over PCIe, then NVMe."""
    data = exchange_bytes(node, model, batch)
    return data / link_bandwidth(node, "hbm_ddr") + data / link_bandwidth(node, "ddr_ssd")


def test_flash_programs_are_charged_and_reported_as_drive_writes():
    slow = load_node(overrides={"tiers.ssd.program_us": 50000.0})
    a, b = step(NODE, OPT, "PAM", 256, 5750.0), step(slow, OPT, "PAM", 256, 5750.0)
    assert a.flash_write_bytes == b.flash_write_bytes > 0
    assert b.step_s >= b.flash_write_bytes / flash_program_bandwidth(slow) > a.step_s
    per_day = a.flash_write_bytes / a.step_s * 86400
    assert flash_write_dwpd(NODE, a.flash_write_bytes / a.step_s) == pytest.approx(per_day / 8.192e12, rel=1e-12)
    assert step(NODE, OPT, "LS-PIM", 256, 5750.0).flash_write_bytes == 0     # static: nothing moves into flash


def test_token_selection_scans_every_token_where_its_labels_sit():
    """LS-PIM on HBM alone: the tier's time grows by the scan of every token's label channels (1/8 of K's
    channels, so 1/16 of the token's bytes) at the tier's per-token cycles."""
    batch, context = 64, 2000.0
    none = load_node(overrides={"sparsity.label_fraction": 1e-12})         # a figure may not be zeroed
    a, b = step(NODE, LLAMA, "LS-PIM", batch, context), step(none, LLAMA, "LS-PIM", batch, context)
    assert a.tokens_share == (1.0, 0.0, 0.0)
    hbm = NODE.tiers["hbm"]
    scan = (batch * LLAMA.kv_heads * context * 0.125 / 2 / hbm.banks * mapping_balance(False, sparsity=0.0625)
            * hbm.cycles(LLAMA.group) / hbm.clock_hz)
    assert a.tier_s[0] - b.tier_s[0] == pytest.approx(scan, rel=1e-6)
    assert step(NODE, LLAMA, "L-PIM", batch, context).tier_s == step(none, LLAMA, "L-PIM", batch, context).tier_s


def test_ddr_and_ssd_exchanges_over_pcie_are_summed():
    """L-PIM with KV in DDR and SSD: both tiers' q and partials cross the GPUs' PCIe links every layer."""
    r = step(NODE, OPT, "L-PIM", 256, 5750.0)
    assert r.tokens_share[1] > 0 and r.tokens_share[2] > 0
    both = OPT.layers * 2 * exchange_bytes(NODE, OPT, 256) / link_bandwidth(NODE, "hbm_ddr")
    assert r.busy_s["pcie"] == pytest.approx(both, rel=1e-9)


def test_prompt_kv_written_below_hbm_is_charged():
    timer = StepTimer(NODE, OPT, "PAM")
    tokens, kv = 2048, NODE.kv_bytes_per_token(OPT)
    in_hbm, flash_none = timer.prefill(8, tokens, 100.0, (1.0, 0.0, 0.0))
    in_ssd, flash = timer.prefill(8, tokens, 100.0, (0.0, 0.0, 1.0))
    assert flash_none == 0 and flash == tokens * kv
    assert in_ssd >= tokens * kv / flash_program_bandwidth(NODE) > in_hbm


def test_the_baselines_use_no_pam_mechanism():
    """PAM with its own mechanisms off (no dynamic placement, no greedy bank-group mapping) is LS-PIM, and
    LS-PIM's other readings differ only in where new tokens go or in taking PAM's mapping."""
    bare = {**SYSTEMS["PAM"], "dynamic": False, "mapping": False}
    for model, batch, context in ((OPT, 256, 5750.0), (LLAMA, 256, 5750.0), (LLAMA, 16, 480.0)):
        a, b = pim_step(NODE, model, batch, context, "LS-PIM", bare), step(NODE, model, "LS-PIM", batch, context)
        assert dataclasses.replace(a, energy_j={}) == dataclasses.replace(b, energy_j={}) and a.energy_j == b.energy_j
    assert not SYSTEMS["LS-PIM"]["mapping"] and not SYSTEMS["L-PIM"]["mapping"] and not SYSTEMS["LS-PIM"]["dynamic"]
    assert mapping_balance(True) < mapping_balance(False) < 2.0      # round robin is no strawman


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(system=st.sampled_from(sorted(SYSTEMS)), model=st.sampled_from(sorted(MODELS)),
       batch=st.integers(1, 1024), context=st.floats(64, 65536),
       link=st.sampled_from(["links.hbm_ddr", "links.ddr_ssd", "gpu.hbm_tb_s", "gpu.nvlink_gb_s"]))
def test_more_bandwidth_is_never_slower(system, model, batch, context, link):
    base = load_node()
    faster = load_node(overrides={link: 2 * _figure(base, link)})
    a, b = step(base, MODELS[model], system, batch, context), step(faster, MODELS[model], system, batch, context)
    print(f"{system} {model} batch {batch} context {context:.0f} {link} x2: {a.step_s} -> {b.step_s}")
    assert a.fits == b.fits and b.step_s <= a.step_s * (1 + 1e-12)


def _figure(node, name):
    section, key = name.split(".")
    return node.links[key]["bandwidth_gb_s"] if section == "links" else node.gpu[key]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(system=st.sampled_from(sorted(SYSTEMS)), model=st.sampled_from(sorted(MODELS)),
       batch=st.integers(1, 1024), context=st.floats(64, 65536))
def test_bytes_moved_are_bytes_charged(system, model, batch, context):
    """The energy's link term is the bytes the busy links carried at their bandwidth: nothing moved for free,
    nothing charged twice."""
    r = step(NODE, MODELS[model], system, batch, context)
    if not r.fits:
        return
    e = NODE.energy
    charged = r.energy_j["pcie"] / (8 * (e["pcie_pj_per_bit"] + e["ddr_io_pj_per_bit"]) * 1e-12)
    carried = r.busy_s["pcie"] * link_bandwidth(NODE, "hbm_ddr") + r.busy_s.get("nvme", 0.0) * link_bandwidth(
        NODE, "ddr_ssd")
    assert charged == pytest.approx(carried, rel=1e-9, abs=1.0)


def test_the_peak_meets_its_slo_and_the_next_rate_up_does_not():
    timer = StepTimer(NODE, MODELS["qwen2_5_32b"], "vLLM-offload")
    cache, slo, seed, window = {}, 0.15, 5, 400
    print(f"seed {seed}")
    peak = peak_under_slo(timer, lambda n: lengths("humaneval", n, seed), slo, seed, 120 * 0.2, window, cache)
    assert peak["rate"] > 0 and peak["next_rate"] / peak["rate"] <= 1.01 + 1e-9
    at, above = cache[round(peak["rate"], 9)], cache[round(peak["next_rate"], 9)]
    assert at.meets(slo) and not above.meets(slo) and peak["limit"] in ("SLO", "load", "KV capacity", "running cap")
    assert at.window == window and at.requests == window + 2 * math.ceil(peak["rate"] * 120 * 0.2)


def test_a_run_past_the_running_cap_names_it():
    """Arrivals far beyond what 16 running sequences serve: admission waits on the cap most of the run."""
    timer = StepTimer(NODE, LLAMA, "PAM")
    inputs, outputs = lengths("sharegpt", 600, 2)
    r = simulate(timer, inputs, outputs, poisson_arrivals(50.0, 600, 2), max_running=16)
    assert not r.keeps_up and r.blocked["running cap"] > 0.5 and r.blocked["KV capacity"] == 0
    assert np.isfinite(r.tpot_s["p99"])


def test_a_reported_peak_agrees_with_the_search_on_half_its_requests():
    """Each peak is searched with twice the requests until two searches agree within the bound: a reported
    peak that stopped short of the most requests moved by at most CONVERGENCE from the search before it."""
    from perf.evaluate import CONVERGENCE, MOST_REQUESTS, _online_curve

    window = 150
    rows = _online_curve(None, "physical", (("serving.window_requests", window),), "qwen2_5_32b", "sharegpt",
                         "vLLM-offload", 4)          # a cell whose first doubling moves its peak by more than 2%
    for row in rows:
        print(row["slo_ms"], row["throughput"], row["limit"], row["convergence"], row["measured_requests"])
        assert row["measured_requests"] in [window * 2 ** i for i in range(1, MOST_REQUESTS.bit_length())]
        assert abs(row["convergence"]) <= CONVERGENCE or row["measured_requests"] == MOST_REQUESTS * window
        assert row["limit"] in ("SLO", "load", "KV capacity", "running cap") and row["measured_requests"] > 2 * window
