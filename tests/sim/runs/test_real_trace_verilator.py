"""A decode step of real attention through the RTL system top: SmolLM2-135M's layer 1 (captured here from a
two-layer slice of the shipped model, text-fed), head_dim 64 and G = 3, bit for bit against the golden
hardware model and within the float64 bound."""

import pytest

from golden.decoder.capture import capture_traces
from golden.decoder.gguf_model import load_model, shipped_text
from sim.runs.system import SMALL_DEVICES, SystemSpec, count_by_device, spread_placement, system_step


@pytest.mark.verilator
@pytest.mark.parametrize("kv_head", [2])
def test_a_real_trace_step_on_the_system_top_is_bit_exact(kv_head, seed):
    name, text = shipped_text()
    trace = capture_traces(load_model(layers=2), text, name, prompt_tokens=60, steps=2, layers=[1],
                           decode="text").traces[1]
    spec = SystemSpec(SMALL_DEVICES, trace.fmt.name, trace.head_dim, trace.group)   # pam sim device's top
    assert (spec.head_dim, spec.group) == (64, 3)
    placement = spread_placement(spec, trace.context(1))
    step = system_step(spec, trace, placement, kv_head=kv_head, step=1, seed=seed)
    print(f"layer 1, kv head {kv_head}, step 1: {trace.context(1)} tokens, per bank "
          f"{count_by_device(spec, placement)}, {step.run.cycles} cycles, max rel err {step.max_rel_err:.3g}")
    assert all(code == 0 for _, code in step.run.statuses), step.run.statuses
    assert [o for o, _ in step.run.outputs] == [[int(x) for x in row] for row in step.expected]
    assert step.bit_exact and step.flags_clear
    assert step.max_rel_err <= step.bound, f"{step.max_rel_err:.3g} > {step.bound:.3g}"
