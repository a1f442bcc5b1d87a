"""The PU fed by the bank model under cocotb + Verilator: bit-exact partials, utilisation at the timing limit.

Two builds (about 100 s each on 2 cores, cached in build/sim/):
HBM3, FP16, W = 16, head_dim 64, G = 1 (B = 128), and DDR4, BF16, W = 4,
head_dim 64, G = 5 (B = 6). Each runs token counts 0, 1, B-1, B, B+1 and a
long context.
"""

import pytest

from sim.pu_bench import run_pu_on_bank
from sim.trace import generate_trace

CASES = {"hbm3": ("fp16", 1, 128, 1000), "ddr4": ("bf16", 5, 6, 300)}


@pytest.mark.verilator
@pytest.mark.parametrize("tier", ["hbm3", "ddr4"])
@pytest.mark.parametrize("which", ["0", "1", "B-1", "B", "B+1", "long"])
def test_pu_on_bank_bit_exact(tier, which, seed):
    dtype, group, block, long = CASES[tier]
    tokens = {"0": 0, "1": 1, "B-1": block - 1, "B": block, "B+1": block + 1, "long": long}[which]
    trace = generate_trace(tokens=max(tokens, 1), q_heads=group, kv_heads=1, head_dim=64, dtype=dtype,
                           dist="heavy", seed=seed + tokens)
    run = run_pu_on_bank(trace, tier_name=tier, tokens=tokens)
    print(run)
    assert run.block_tokens == block
    assert run.bit_exact, run.mismatch
    if tokens >= 1000:
        # G = 1 must not be the bottleneck: >= 95% of the bus rate the bank alone achieves.
        assert run.fraction_of_limit >= 0.95, run
