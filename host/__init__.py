"""Host-side driver of PAM: where each KV token lives, and how it moves.

The layered baseline placement (``layered``), token importance (``importance``), Algorithm 2
scheduling (``scheduler``, and ``array_scheduler`` on NumPy arrays), intra-device mapping (``mapping``),
migration (``migration``), device commands (``commands``), and the per-step driver that ties them
together (``driver``).
"""
