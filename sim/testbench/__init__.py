"""cocotb benches: the one-event job bench and the FP unit bench with its checker."""
