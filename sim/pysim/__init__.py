"""Stream runs under amaranth.sim: the stream helper and the PU, RU and device runs."""
