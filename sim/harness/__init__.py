"""Gateware around a design for simulation: the HDL job harness, the PU on its bank, the lone bank, the FP unit harness."""
