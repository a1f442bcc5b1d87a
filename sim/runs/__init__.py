"""Runs on the RTL, each with its golden check and its figures: the PU on its bank, a decode step on the system top, the host driver on it, and the independent check of bank timing."""
