"""The system-level performance model of a PAM node: the RTL's measured cycle counts scaled to whole tiers.

It reads the calibration file (``perf.calibration``) that ``pam calibrate`` writes from the RTL, and the
assumed figures of ``perf/configs/``; it imports neither Amaranth nor cocotb. ``node``: a decode step of a
batch on each system; ``serving``: the request-level simulator; ``workloads``: the request length
distributions; ``evaluate``: ``pam eval``; ``sensitivity``: its sweep of the assumptions; ``plots``;
``host_profile``: the host scheduler's decisions on activation streams; ``scaleout``: independent tasks on
Dask; ``progress``: progress lines on stderr.
"""
