"""A small trained decoder on CPU, for KV traces from real attention (``pam trace capture``)."""
