"""The examples under examples/ build and pass, so they cannot rot; and their checks can fail."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cocotb_pu():
    """The plain cocotb example on the PU: its runner module, and its Verilator build."""
    example = _load(EXAMPLES / "cocotb_pu" / "run_pu_tb.py")
    return example, example.build()


@pytest.mark.verilator
def test_cocotb_pu_example_passes(cocotb_pu, seed):
    example, runner = cocotb_pu
    example.simulate(runner, seed)


@pytest.mark.verilator
def test_cocotb_pu_example_fails_on_one_wrong_golden_bit(cocotb_pu, seed):
    """Bit 37 of the first partial is bit 5 of its l: the check must stop there and name it."""
    example, runner = cocotb_pu
    with pytest.raises(AssertionError, match=r"partial 0 \(cycle \d+\): part\.payload bit 37 \(l bit 5\)"):
        example.simulate(runner, seed, extra_env={"PU_TB_FLIP_BIT": "37"})
