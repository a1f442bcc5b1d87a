"""Jobs: a run on the RTL with its golden check and figures (PU on its bank, system top, host driver, bank timing)."""
