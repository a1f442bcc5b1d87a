"""Host-side driver of PAM: where each KV token lives, and how it moves.

So far: :mod:`host.layered`, the layered baseline placement (L-PIM). The
importance-driven mapping, migration and scheduling follow (issue 6).
"""
