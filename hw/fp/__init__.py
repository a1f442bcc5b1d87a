"""The floating-point units: add, multiply, dot product, exp2, max, reciprocal, format conversion, the
exp2-of-difference chain, their shared unpack/round/pack core, the pipeline they are built on, and the
catalogue of units (``units``) the tests, ``pam verilog`` and ``pam bench fp`` use."""
