"""Amaranth gateware of PAM: floating-point units, PU, bank timing, RUs and device tops (issues 3-5)."""
