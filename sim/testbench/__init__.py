"""Testbenches: everything around a design under simulation.

The HDL job harness (``harness``: clock, stimulus, pauses, monitors and the in-order scoreboard in
Verilog, playing one *job*: a file of commands and expected outputs), the gateware each design sits in
for it (``pu_bank``: the PU on its bank; ``bank_streamer``: the lone bank; ``fp_unit``: the FP units on one
stream), the Python side that writes a job, runs it and reads its log (``base.Testbench``), the cocotb test
module the runner loads (``wait_done``), and the FP testbench with its checker (``fp``, ``fp_check``).
"""
