"""The golden model of PAMattention.

* :mod:`golden.formats`, :mod:`golden.fpops`, :mod:`golden.elementary`: the
  hardware's number formats and arithmetic, bit for bit (the RTL's spec);
* :mod:`golden.reference`: float64 decode attention (GQA);
* :mod:`golden.pamattention`: PAM's partition/merge algebra in float64;
* :mod:`golden.placement`: token placement and PAM's reduction tree;
* :mod:`golden.hwmodel`: PAMattention in the hardware's arithmetic and order;
* :mod:`golden.accuracy`: error measurement and the stated bounds.
"""
