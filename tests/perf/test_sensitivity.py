"""The sensitivity sweep of pam eval (issue 15, item 6)."""

import json

import pytest

from sim.cli import main
from perf.sensitivity import DEFAULT_SWEEP, parse_sweep, sweep
from perf.node import load_node

QUICK = {"serving.window_requests": 100}          # short runs: the headlines move the same way


def test_sweep_items_parse_and_bad_ones_are_named():
    assert parse_sweep(["links.hbm_ddr=32,128", "host.scheduler_threads=4"]) == {
        "links.hbm_ddr": (32, 128), "host.scheduler_threads": (4,)}
    assert parse_sweep(["default"]) == DEFAULT_SWEEP
    with pytest.raises(ValueError, match="'pcie' is not NAME=v1,v2"):
        parse_sweep(["pcie"])
    with pytest.raises(ValueError, match="gpu.compute_efficiency: 'fast' is not a number"):
        parse_sweep(["gpu.compute_efficiency=fast"])
    for name, values in DEFAULT_SWEEP.items():           # every default assumption is a real figure
        load_node(overrides={name: values[0]})


def test_a_faster_pcie_shrinks_pam_s_lead_over_vllm_that_reads_its_kv_over_it():
    """Under the paper preset vLLM reads its KV over PCIe each step: its link's bandwidth must move the online
    ratio against vLLM, down as the link gets faster. Rows where no compared system crosses PCIe (LLaMA3-70B's
    online contexts and batch 16 stay in HBM for PAM and LS-PIM alike) must not move."""
    result = sweep({"links.hbm_ddr": (32.0, 128.0)}, ["llama3_70b"], "paper", base=QUICK)
    swing = result["swings"]["links.hbm_ddr"]
    online = swing["online throughput vs vLLM-offload, llama3_70b"]
    print(f"online vs vLLM at 32 and 128 GB/s: {online}")
    assert online[0] > 0.1 and online[1] < -0.1
    for row in ("online throughput vs LS-PIM, llama3_70b", "attention speed-up vs LS-PIM, small batch (batch 16), "
                "llama3_70b"):
        assert swing[row] == pytest.approx([0.0, 0.0], abs=1e-12), row
    assert result["ranking"] == ["links.hbm_ddr"]


def test_cli_sweep_writes_a_tornado_chart(tmp_path, capsys):
    argv = ["eval", "--models", "qwen2_5_32b", "--preset", "physical", "--window-requests", "100",
            "--sweep", "gpu.compute_efficiency=0.4", "--sweep", "tiers.ddr.sync_us=20", "--json", "-o", str(tmp_path)]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)["sweeps"]["physical"]
    assert set(result["ranking"]) == {"gpu.compute_efficiency", "tiers.ddr.sync_us"}
    assert (tmp_path / "physical" / "tornado.png").stat().st_size > 20000
