"""Amaranth gateware of PAM: floating-point units, PU, bank timing, RUs, device and system tops."""
