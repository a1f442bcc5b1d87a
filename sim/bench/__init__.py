"""`pam bench`: speed and figures of the FP units, the simulations and the host scheduler; the command fuzz of the
system top and the scheduler soak."""
