"""Binary floating-point formats, described by their field widths.

Every golden operation works on bit patterns held in NumPy integer arrays, so
that the model and the RTL speak the same language: a value *is* its bits.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

__all__ = ["FloatFormat", "FP16", "BF16", "FP32", "FORMATS", "format_by_name"]


@dataclasses.dataclass(frozen=True)
class FloatFormat:
    """An IEEE 754-style binary format: sign, ``exp_bits`` exponent, ``man_bits`` fraction.

    Parameters
    ----------
    name : str
        Short name used in configs, file metadata and the CLI (``"fp16"``).
    exp_bits : int
        Width of the biased exponent field.
    man_bits : int
        Width of the stored fraction (the hidden bit is not counted).
    """

    name: str
    exp_bits: int
    man_bits: int

    def __post_init__(self):
        if not 2 <= self.exp_bits <= 11:
            raise ValueError(f"exp_bits must be in 2..11, not {self.exp_bits!r}")
        if not 1 <= self.man_bits <= 30:
            raise ValueError(f"man_bits must be in 1..30, not {self.man_bits!r}")

    @property
    def width(self) -> int:
        """Total width in bits."""
        return 1 + self.exp_bits + self.man_bits

    @property
    def bytes(self) -> int:
        """Bytes one value takes in memory: the width rounded up to whole bytes."""
        return -(-self.width // 8)

    @property
    def bias(self) -> int:
        return (1 << (self.exp_bits - 1)) - 1

    @property
    def precision(self) -> int:
        """Significand precision p, hidden bit included."""
        return self.man_bits + 1

    @property
    def exp_max(self) -> int:
        """All-ones exponent field (infinities and NaNs)."""
        return (1 << self.exp_bits) - 1

    @property
    def sign_mask(self) -> int:
        return 1 << (self.width - 1)

    @property
    def inf(self) -> int:
        """Bit pattern of +inf."""
        return self.exp_max << self.man_bits

    @property
    def qnan(self) -> int:
        """The canonical quiet NaN every operation returns: sign 0, fraction MSB set."""
        return self.inf | (1 << (self.man_bits - 1))

    @property
    def one(self) -> int:
        """Bit pattern of 1.0."""
        return self.bias << self.man_bits

    @property
    def max_finite(self) -> int:
        return self.inf - 1

    @property
    def eps(self) -> float:
        """Distance from 1.0 to the next larger value, 2**-man_bits."""
        return 2.0 ** -self.man_bits

    @property
    def storage_dtype(self) -> np.dtype:
        """Unsigned integer dtype that holds one bit pattern."""
        return np.dtype(np.uint16) if self.width <= 16 else np.dtype(np.uint32)

    @property
    def numpy_dtype(self) -> np.dtype:
        """The NumPy (or ml_dtypes) float dtype with the same encoding."""
        try:
            return _numpy_dtype(self.name)
        except KeyError:
            raise ValueError(f"format {self.name!r} has no NumPy dtype") from None

    def from_float(self, values) -> np.ndarray:
        """Round float values to this format (round to nearest even) and return the bits."""
        with np.errstate(over="ignore", invalid="ignore"):  # overflow to inf is the rounding
            return np.asarray(values, dtype=np.float64).astype(self.numpy_dtype).view(self.storage_dtype)

    def to_float(self, bits) -> np.ndarray:
        """Decode bit patterns to float64 (exactly: every format here fits in float64)."""
        bits = np.asarray(bits).astype(self.storage_dtype)
        with np.errstate(invalid="ignore"):  # NaN patterns decode to NaN
            return bits.view(self.numpy_dtype).astype(np.float64)

    def is_nan(self, bits) -> np.ndarray:
        bits = np.asarray(bits, dtype=np.int64)
        return (bits & ~self.sign_mask) > self.inf

    def is_inf(self, bits) -> np.ndarray:
        bits = np.asarray(bits, dtype=np.int64)
        return (bits & ~self.sign_mask) == self.inf

    def ulp(self, values) -> np.ndarray:
        """Unit in the last place at each magnitude (float64 values in, float64 out).

        For subnormal magnitudes it is the subnormal spacing 2**(1-bias-man_bits).
        """
        mag = np.abs(np.asarray(values, dtype=np.float64))
        exp = np.floor(np.log2(np.where(mag > 0, mag, 1.0)))
        exp = np.maximum(exp, 1 - self.bias)
        return np.ldexp(1.0, (exp - self.man_bits).astype(np.int64))

    def __str__(self):
        return self.name


FP16 = FloatFormat("fp16", exp_bits=5, man_bits=10)
BF16 = FloatFormat("bf16", exp_bits=8, man_bits=7)
FP32 = FloatFormat("fp32", exp_bits=8, man_bits=23)

FORMATS = {f.name: f for f in (FP16, BF16, FP32)}


@functools.cache
def _numpy_dtype(name: str) -> np.dtype:
    """The NumPy dtype of a format; ml_dtypes (bfloat16) is imported only for bf16, which keeps it (about a
    second) out of every ``pam`` call that does not need it."""
    if name == "bf16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    return {"fp16": np.dtype(np.float16), "fp32": np.dtype(np.float32)}[name]


def format_by_name(name: str) -> FloatFormat:
    """Look a format up by name, with an error that lists the choices."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown float format {name!r}; choose one of {sorted(FORMATS)}") from None
