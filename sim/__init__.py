"""Simulation side: toolchain set-up, KV traces, the ``pam`` CLI; cocotb benches and the system model follow."""
