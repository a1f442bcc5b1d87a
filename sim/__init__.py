"""Running the RTL: Verilator builds (``verilator``), testbenches (``testbench``), amaranth.sim runs
(``pysim``), runs with their golden checks (``runs``), RTL calibration for the system model (``calibrate``),
the design-space sweep (``dse``), benchmarks (``bench``), waveform tools (``waves``) and the ``pam`` CLI
(``cli``)."""
