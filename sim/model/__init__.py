"""The system performance model: calibration from the RTL, the node model, workloads, the evaluation and its plots."""
