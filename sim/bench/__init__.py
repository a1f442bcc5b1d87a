"""`pam bench`: speed and figures of the FP units, the simulations and the host scheduler."""
