"""The pam command line: each subcommand's text and JSON output, and clear errors with exit status 2."""

import json
from pathlib import Path
import re
import subprocess
import sys

import numpy as np
import pytest

from sim.cli import main
from sim.waves import load_waves


def run_json(capsys, *argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_doctor_json(capsys):
    data = run_json(capsys, "doctor")
    names = [t["name"] for t in data["tools"]]
    assert data["ok"] and {"verilator", "perl", "c++", "yosys (amaranth built-in)", "cocotb"} <= set(names)


def test_trace_gen_and_info(tmp_path, capsys):
    out = tmp_path / "t.npz"
    data = run_json(capsys, "trace", "gen", "-o", str(out), "--tokens", "40", "--steps", "2", "--q-heads", "4",
                    "--kv-heads", "2", "--head-dim", "32", "--dtype", "bf16", "--seed", "5")
    assert data["tokens"] == 40 and data["dtype"] == "bf16" and out.exists()
    info = run_json(capsys, "trace", "info", str(out))
    assert info["steps"] == 2 and info["kv_heads"] == 2 and info["info"]["seed"] == 5
    assert main(["trace", "info", str(out)]) == 0
    assert "tokens 40, steps 2" in capsys.readouterr().out


def test_golden_json_has_the_promised_fields(capsys):
    data = run_json(capsys, "golden", "--tokens", "300", "--head-dim", "64", "--steps", "2")
    assert {"max_abs_err", "max_rel_err", "format", "tokens"} <= set(data)
    assert data["tokens"] == 300 and data["format"] == "fp16" and len(data["steps"]) == 2
    assert data["within_bound"] and 0 < data["bound_share"] <= 1 and all(s["within_bound"] for s in data["steps"])
    assert data["within_envelope"] and 0 < data["max_rel_err"] <= data["envelope_rel_err"]


def test_golden_on_a_trace_file(tmp_path, capsys):
    path = tmp_path / "t.npz"
    assert main(["trace", "gen", "-o", str(path), "--tokens", "64", "--dtype", "bf16", "--head-dim", "64"]) == 0
    capsys.readouterr()
    data = run_json(capsys, "golden", "--trace", str(path), "--lanes", "4", "--block", "8")
    assert data["format"] == "bf16" and data["lanes"] == 4 and data["block_tokens"] == 8


def test_golden_units_text(capsys):
    assert main(["golden", "--units"]) == 0
    text = capsys.readouterr().out
    assert text.count("65536") == 4 and "reciprocal" in text


def test_bad_trace_gives_one_line_and_status_2(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, meta=np.frombuffer(b"{}", np.uint8), k=np.zeros(1), v=np.zeros(1), q=np.zeros(1))
    assert main(["golden", "--trace", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pam: error: {bad}: meta.format") and err.count("\n") == 1


@pytest.mark.slow
def test_verilog_lint_is_clean_for_the_system_top(tmp_path, capsys):
    data = run_json(capsys, "verilog", "system", "--head-dim", "32", "--max-group", "2", "--format", "fp16",
                    "--lint", "-o", str(tmp_path))
    assert [(r["unit"], r["lint_clean"]) for r in data["modules"]] == [("system", True)], \
        data["modules"][0]["lint_output"][:2000]
    text = (tmp_path / "system_fp16.v").read_text()
    assert all(f"\\system_fp16.dev{i} " in text for i in range(3))          # HBM, DDR and SSD devices


def test_verilog_lint_is_clean_for_a_device_top(tmp_path, capsys):
    data = run_json(capsys, "verilog", "device", "--tier", "ddr4", "--head-dim", "16", "--max-group", "2",
                    "--rows", "2", "--format", "bf16", "--lint", "-o", str(tmp_path))
    assert [(r["unit"], r["lint_clean"]) for r in data["modules"]] == [("device_ddr4_2x2", True)]


@pytest.mark.parametrize("argv,match", [
    (["golden", "--banks", "0"], "--banks: 0 is below the least value, 1"),
    (["golden", "--lanes", "3"], "lanes must be a power of two"),
    (["trace", "gen", "-o", "x.npz", "--tokens", "-4"], "--tokens: -4 is below the least value, 1"),
    (["bench", "pu", "--tiers", "hbm9"], "unknown tier 'hbm9'"),
    (["bench", "pu", "--head-dim", "40"], "head_dim 40 must be a multiple of lanes 16"),
    (["sim", "bank", "--wave-file", "w.txt"], "--wave-file w.txt: the suffix must be .vcd or .fst"),
    (["sim", "bank", "--waves", "fst", "--wave-file", "w.vcd"], "--wave-file w.vcd: the run writes fst, not vcd"),
    (["area", "fsqrt"], "unknown unit 'fsqrt'"),
    (["sim", "device", "--trace", "missing.npz"], "missing.npz"),
])
def test_bad_arguments(capsys, argv, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        status = main(argv)
    except SystemExit as exc:               # refused while the command line is parsed
        status = exc.code
    assert status == 2
    assert match in capsys.readouterr().err


def test_argument_type_errors_exit_with_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "pu", "--groups", "1,0"])
    assert exc.value.code == 2
    assert "argument --groups: '1,0' is not a comma-separated list of positive integers" in capsys.readouterr().err


@pytest.mark.verilator
def test_demo_json(tmp_path, capsys, run_hint):
    """The demo's own system (HBM 1x4 banks of 16-lane PUs, d = 128) with a shorter prompt."""
    data = run_json(capsys, "demo", "--out", str(tmp_path), "--tokens", "800", "--steps", "2")
    assert data["bit_exact"] == [True, True] and data["within_bound"]
    assert data["head_dim"] == 128 and data["devices"][0]["banks"] == 4 and data["devices"][0]["lanes"] is None
    assert [sum(t) for t in data["tokens_per_tier"]] == [801, 802]       # the prompt, then one token per step
    assert data["tokens_per_tier"][0][2] > 0                             # past HBM's 512 and DDR's 256 slots
    for name in ("summary.json", "trace.npz", "system.v", "system.vcd", "wave.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "module system(" in (tmp_path / "system.v").read_text()
    waves = load_waves(tmp_path / "system.vcd", "d_pu_active,d_out__valid")
    pu, out = waves.values
    assert any(v not in (0, "x") for v in pu) and sum(1 for v in out if v == 1) >= 2 * 2
    step0 = data["step0"]
    assert step0["pu_first"] < step0["pu_last"] < step0["output_cycle"]
    run_hint(data["waves_hint"])


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert re.fullmatch(r"pam 0\.1\.0 \(commit [0-9a-f]{7,}(-dirty)?\)", capsys.readouterr().out.strip())


def test_the_parser_offers_the_choices_the_code_takes():
    """sim/cli/options.py names the choices once so that --help stays light; they must be the real ones, and no
    command's parser spells them out again."""
    from golden.formats import format_by_name
    from golden.traces.format import DISTRIBUTIONS, TRACE_DTYPES
    from perf.node import PRESETS
    from sim import waves
    from sim.cli import options
    assert options.TRACE_DTYPES == tuple(sorted(TRACE_DTYPES)) and options.DISTRIBUTIONS == DISTRIBUTIONS
    assert options.WAVE_FORMATS == waves.WAVE_FORMATS and options.PRESETS == PRESETS
    assert [format_by_name(f).name for f in options.UNIT_FORMATS] == list(options.UNIT_FORMATS)
    cli = Path(options.__file__).parent
    spelled = [p.name for p in cli.glob("*_args.py") if '"fp16", "bf16"' in p.read_text() or '"bf16", "fp16"' in p.read_text()]
    assert spelled == []


def test_help_imports_neither_numpy_nor_the_models():
    out = subprocess.run([sys.executable, "-c", "import sys; from sim.cli import main\ntry: main(['--help'])\n"
                          "except SystemExit: pass\nprint(sorted(m for m in ('numpy', 'amaranth', 'golden.formats') "
                          "if m in sys.modules))"], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_installed_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "sim.cli", "--help"], capture_output=True, text=True, check=True)
    for sub in ("doctor", "trace", "golden", "verilog", "bench", "demo"):
        assert sub in out.stdout
    pam = subprocess.run([str(__import__("pathlib").Path(sys.executable).parent / "pam"), "trace", "gen", "--help"],
                         capture_output=True, text=True, check=True)
    assert "--dist" in pam.stdout and "--json" in pam.stdout


def test_verilog_writes_a_module(tmp_path, capsys):
    data = run_json(capsys, "verilog", "fexp2", "--format", "bf16", "-o", str(tmp_path))
    (row,) = data["modules"]
    text = (tmp_path / "fexp2_bf16.v").read_text()
    assert row["latency"] == 3 and "module fexp2_bf16(" in text and "i__payload" in text


def test_verilog_lint_is_clean_for_every_unit(tmp_path, capsys):
    data = run_json(capsys, "verilog", "--lint", "--head-dim", "64", "-o", str(tmp_path))
    assert len(data["modules"]) == 29          # 21 unit/format pairs, PU, RU and normalise in 2 formats, 2 banks
    dirty = [(r["unit"], r["format"], r["lint_output"]) for r in data["modules"] if not r["lint_clean"]]
    assert not dirty
    assert set(data["waivers"]) == {"WIDTHEXPAND", "WIDTHTRUNC", "UNUSEDSIGNAL", "PROCASSINIT", "CASEINCOMPLETE",
                                    "DECLFILENAME", "ASCRANGE"}


@pytest.mark.parametrize("argv,match", [
    (["verilog", "fsqrt"], "unknown unit 'fsqrt'"),
    (["verilog", "fexp2", "--format", "fp32"], "--format fp32 is not made for unit fexp2"),
    (["verilog"], "name a UNIT"),
    (["verilog", "device", "--bank-groups", "0"], "--bank-groups: 0 is below the least value, 1"),
])
def test_verilog_bad_arguments(argv, match, capsys, tmp_path):
    assert main([*argv, "-o", str(tmp_path)]) == 2
    assert match in capsys.readouterr().err


@pytest.mark.verilator
def test_bench_fp_json(capsys):
    data = run_json(capsys, "bench", "fp", "--formats", "fp32", "--random", "3000")
    assert {r["unit"] for r in data["rows"]} == {"fmul", "fadd", "fmax"}
    for r in data["rows"]:
        assert r["mismatch"] is None and r["results"] == 3000 + 256
        assert r["verilator_results_per_s"] > 0 and r["golden_results_per_s"] > 0 and r["sim_cycles_per_s"] > 0


def test_area_counts_the_registers_of_a_unit(capsys):
    """FMax has one pipeline stage: a 16-bit result register and its valid bit, and nothing else."""
    data = run_json(capsys, "area", "fmax", "--format", "fp16")
    (row,) = data["rows"]
    assert row["flops"] == 17
    assert row["cells"]["$_DFF_P_"] == 17 and row["gates"] > 100
    assert row["nand2_eq"] > row["gates"] * 0.667 and row["mm2_45nm"] > 0


@pytest.mark.verilator
def test_bench_sim_runs_one_job_under_cocotb_and_the_cpp_main(capsys):
    """Both runs of the same build must log the same outputs; the bench raises otherwise."""
    data = run_json(capsys, "bench", "sim", "--designs", "bank", "--reads", "20000")
    (row,) = data["rows"]
    assert row["cycles"] > 20000 and row["modules"] >= 2 and row["verilog_bytes"] > 10_000
    assert row["cocotb_cycles_per_s"] > 0 and row["raw_cycles_per_s"] > 0
    assert row["cocotb_over_raw"] == pytest.approx(row["cocotb_cycles_per_s"] / row["raw_cycles_per_s"])


def test_bench_sim_bad_arguments(capsys):
    assert main(["bench", "sim", "--designs", "gpu"]) == 2
    assert "designs: 'gpu' is not one of system, pu, bank" in capsys.readouterr().err
    assert main(["bench", "sim", "--reads", "0"]) == 2
    assert "--reads: 0 is below the least value, 1" in capsys.readouterr().err


@pytest.mark.verilator
def test_bench_pu_runs_each_token_count_on_one_build(capsys):
    """pam bench pu --tokens 8,40: one bit-exact run per count, the K and V columns C per token each."""
    assert main(["bench", "pu", "--tiers", "hbm3", "--head-dim", "64", "--tokens", "8,40", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tokens"] == [8, 40] and [r["tokens"] for r in data["runs"]] == [8, 40]
    for r in data["runs"]:
        assert r["bit_exact"] and r["k_cycles_per_token"] == r["v_cycles_per_token"] == 64 // 16
        # The bank alone replays the same writes, so both runs meet the same refreshes, give or take the few
        # cycles between the last write and the start: the PU run can come out a hair above the reference.
        assert 0.95 <= r["fraction_of_limit"] <= 1.01


def test_trace_capture_then_stats_and_every_score_source(tmp_path, capsys):
    """pam trace capture on a slice of the shipped model (2 layers, text-fed), then pam trace info --stats on both
    files side by side and pam schedule --source all on one."""
    out = tmp_path / "real"
    data = run_json(capsys, "trace", "capture", "-o", str(out), "--layers", "0,1", "--prompt-tokens", "48",
                    "--steps", "4", "--decode", "text", "--dtype", "bf16")
    files = [out / "layer00.npz", out / "layer01.npz"]
    assert data["files"] == [str(f) for f in files] and all(f.exists() for f in files)
    assert data["prompt_perplexity"] is None and data["package_version"] == "0.1.2"
    info = run_json(capsys, "trace", "info", "--stats", *map(str, files))
    for layer, trace in enumerate(info["traces"]):
        assert trace["info"]["layer"] == layer and trace["dtype"] == "bf16" and trace["tokens"] == 52
        stats = trace["locality"]
        assert 0 < stats["top1_mass"] <= stats["top10_mass"] <= 1 and 0 <= stats["topk_overlap"] <= 1
    sched = run_json(capsys, "schedule", "--trace", str(files[1]), "--source", "all", "--rows", "1", "2", "4")
    assert sorted(sched["sources"]) == ["double_sparsity", "h2o", "oracle", "quest"]
    for summary in sched["sources"].values():
        assert summary["steps"] == 4 and summary["capacities"][0] < 52
