"""KV trace files: one ``.npz`` holding bit-pattern arrays and JSON metadata.

Format v1: every step attends to all tokens. Format v2 adds ``prompt_tokens``:
the context grows by one token per decode step, and step s attends to the
first ``prompt_tokens + s + 1`` tokens. v1 files still read. See
``docs/traces.md`` for the format. :func:`read_trace` validates everything
and raises :class:`TraceError` naming the field and the value at fault.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile

import numpy as np

from golden.formats import BF16, FP16, FloatFormat
from golden.validate import InputError, check_json_depth

__all__ = ["TRACE_FORMAT", "TRACE_VERSION", "KNOWN_VERSIONS", "TraceError", "MAX_TRACE_VALUES", "check_trace_size",
           "KVTrace", "read_trace", "write_trace",
           "generate_trace", "DISTRIBUTIONS"]

TRACE_FORMAT = "pam-kv-trace"
TRACE_VERSION = 2
KNOWN_VERSIONS = (1, 2)
TRACE_DTYPES = {"fp16": FP16, "bf16": BF16}
DISTRIBUTIONS = ("gaussian", "heavy")
_ARRAYS = ("meta", "k", "v", "q")


class TraceError(ValueError):
    """A trace file or trace object is malformed; the message names the field and value."""


@dataclasses.dataclass(frozen=True)
class KVTrace:
    """The KV cache of one request and its decode-step queries, as bit patterns.

    Attributes
    ----------
    fmt : FloatFormat  # FP16 or BF16
    k, v : uint16 array  # [tokens, kv_heads, head_dim]
    q : uint16 array  # [steps, q_heads, head_dim], unscaled queries
    info : dict  # free-form provenance (generator, seed, …), stored in the metadata
    """

    fmt: FloatFormat
    k: np.ndarray
    v: np.ndarray
    q: np.ndarray
    info: dict = dataclasses.field(default_factory=dict)
    prompt_tokens: int | None = None   # v2: tokens before the first step; None: every step sees all

    def __post_init__(self):
        _validate(self.fmt, self.k, self.v, self.q)
        if self.prompt_tokens is not None:
            p = self.prompt_tokens
            if not isinstance(p, int) or isinstance(p, bool) or p < 0:
                raise TraceError(f"prompt_tokens: must be a non-negative integer, not {p!r}")
            if p + self.steps != self.tokens:
                raise TraceError(f"prompt_tokens: {p} + {self.steps} steps must equal tokens {self.tokens} "
                                 f"(one new token per step)")

    def context(self, step: int) -> int:
        """Tokens that step ``step`` attends to."""
        if not 0 <= step < self.steps:
            raise TraceError(f"step: {step} out of range 0..{self.steps - 1}")
        return self.tokens if self.prompt_tokens is None else self.prompt_tokens + step + 1

    @property
    def tokens(self) -> int:
        return self.k.shape[0]

    @property
    def kv_heads(self) -> int:
        return self.k.shape[1]

    @property
    def head_dim(self) -> int:
        return self.k.shape[2]

    @property
    def q_heads(self) -> int:
        return self.q.shape[1]

    @property
    def steps(self) -> int:
        return self.q.shape[0]

    @property
    def group(self) -> int:
        return self.q_heads // self.kv_heads

    def as_float(self):
        """(q, k, v) decoded to float64, exactly."""
        return self.fmt.to_float(self.q), self.fmt.to_float(self.k), self.fmt.to_float(self.v)

    def metadata(self) -> dict:
        meta = {
            "format": TRACE_FORMAT, "version": 1 if self.prompt_tokens is None else 2, "dtype": self.fmt.name,
            "tokens": self.tokens, "steps": self.steps, "q_heads": self.q_heads,
            "kv_heads": self.kv_heads, "head_dim": self.head_dim, "info": self.info,
        }
        if self.prompt_tokens is not None:
            meta["prompt_tokens"] = self.prompt_tokens
        return meta


def _validate(fmt, k, v, q):
    if fmt not in TRACE_DTYPES.values():
        raise TraceError(f"dtype: {fmt!r} is not one of {sorted(TRACE_DTYPES)}")
    for name, arr, rank, axes in (("k", k, 3, "[tokens, kv_heads, head_dim]"),
                                  ("v", v, 3, "[tokens, kv_heads, head_dim]"),
                                  ("q", q, 3, "[steps, q_heads, head_dim]")):
        if not isinstance(arr, np.ndarray) or arr.dtype != np.uint16:
            dtype = getattr(arr, "dtype", type(arr).__name__)
            raise TraceError(f"{name}: dtype must be uint16 bit patterns, not {dtype}")
        if arr.ndim != rank:
            raise TraceError(f"{name}: shape must be {axes}, not {arr.shape}")
    if k.shape != v.shape:
        raise TraceError(f"v: shape {v.shape} differs from k's {k.shape}")
    tokens, kv_heads, head_dim = k.shape
    steps, q_heads, q_dim = q.shape
    for field, value in (("tokens", tokens), ("kv_heads", kv_heads), ("head_dim", head_dim),
                         ("steps", steps), ("q_heads", q_heads)):
        if value < 1:
            raise TraceError(f"{field}: must be at least 1, not {value}")
    if q_dim != head_dim:
        raise TraceError(f"q: head_dim {q_dim} differs from k's head_dim {head_dim}")
    if q_heads % kv_heads:
        raise TraceError(f"q_heads: {q_heads} is not a multiple of kv_heads {kv_heads}")
    for name, arr in (("k", k), ("v", v), ("q", q)):
        special = (arr.astype(np.int64) & ~fmt.sign_mask) >= fmt.inf
        if special.any():
            where = tuple(int(i) for i in np.argwhere(special)[0])
            kind = "NaN" if fmt.is_nan(arr[where]) else "Inf"
            raise TraceError(f"{name}: {kind} at index {where} (bits 0x{int(arr[where]):04x}); "
                             f"traces hold finite values only")


def write_trace(path: str | os.PathLike, trace: KVTrace) -> None:
    """Write ``trace`` as a v1 ``.npz`` (uncompressed, so a reader can memory-map it)."""
    meta = np.frombuffer(json.dumps(trace.metadata(), sort_keys=True).encode(), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, meta=meta, k=trace.k, v=trace.v, q=trace.q)


def _require(meta: dict, field: str, kind):
    if field not in meta:
        raise TraceError(f"meta.{field}: missing")
    value = meta[field]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TraceError(f"meta.{field}: expected {kind.__name__}, got {value!r}")
    return value


def read_trace(path: str | os.PathLike) -> KVTrace:
    """Read and validate a trace file; any fault raises :class:`TraceError`, naming the file and the field."""
    try:
        return _read_trace(path)
    except TraceError as exc:
        if os.fspath(path) in str(exc):
            raise
        raise TraceError(f"{os.fspath(path)}: {exc}") from None


def _read_trace(path: str | os.PathLike) -> KVTrace:
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise TraceError(f"path: no such file {os.fspath(path)!r}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise TraceError(f"path: {os.fspath(path)!r} is not a .npz trace ({exc or type(exc).__name__})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise TraceError(f"path: {os.fspath(path)!r} is a bare .npy array, not a .npz trace")
    with archive:
        names = set(archive.files)
        for name in _ARRAYS:
            if name not in names:
                raise TraceError(f"{name}: array missing from {os.fspath(path)!r}")
        unknown = sorted(names - set(_ARRAYS))
        if unknown:
            raise TraceError(f"{unknown[0]}: unexpected array in a trace")
        arrays = {}
        for name in _ARRAYS:
            try:
                arrays[name] = archive[name]
            except ValueError:  # object arrays need pickle, which is refused
                raise TraceError(f"{name}: an array of Python objects, which a trace never holds (it would need "
                                 f"pickle, which is refused)") from None
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
                raise TraceError(f"{name}: unreadable in {os.fspath(path)!r} ({exc})") from None
    meta_bytes = arrays.pop("meta")
    if meta_bytes.dtype != np.uint8 or meta_bytes.ndim != 1:
        raise TraceError(f"meta: must be a 1-D uint8 array of JSON, not {meta_bytes.dtype} {meta_bytes.shape}")
    try:
        text = meta_bytes.tobytes().decode("utf-8")
        check_json_depth(text, "meta")
        meta = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, InputError) as exc:
        raise TraceError(f"meta: not valid UTF-8 JSON of a trace ({exc})") from None
    if not isinstance(meta, dict):
        raise TraceError(f"meta: must be a JSON object, not {type(meta).__name__}")
    if not isinstance(meta.get("info", {}), dict):
        raise TraceError(f"meta.info: must be a JSON object, not {type(meta['info']).__name__}")
    if meta.get("format") != TRACE_FORMAT:
        raise TraceError(f"meta.format: expected {TRACE_FORMAT!r}, got {meta.get('format')!r}")
    version = _require(meta, "version", int)
    if version not in KNOWN_VERSIONS:
        raise TraceError(f"meta.version: unknown version {version!r}; this reader knows {list(KNOWN_VERSIONS)}")
    dtype = _require(meta, "dtype", str)
    if dtype not in TRACE_DTYPES:
        raise TraceError(f"meta.dtype: {dtype!r} is not one of {sorted(TRACE_DTYPES)}")
    prompt = _require(meta, "prompt_tokens", int) if version == 2 else None
    trace = KVTrace(TRACE_DTYPES[dtype], arrays["k"], arrays["v"], arrays["q"],
                    info=meta.get("info", {}), prompt_tokens=prompt)
    for field in ("tokens", "steps", "q_heads", "kv_heads", "head_dim"):
        if _require(meta, field, int) != getattr(trace, field):
            raise TraceError(f"meta.{field}: says {meta[field]} but the arrays have {getattr(trace, field)}")
    return trace


def _heavy(rng: np.random.Generator, shape, outliers: np.ndarray) -> np.ndarray:
    """Student-t (3 dof) values with a few large, consistently signed outlier channels."""
    x = rng.standard_t(3, size=shape) / np.sqrt(3.0)
    x[..., outliers] = x[..., outliers] * 2.0 + 6.0 * np.sign(rng.standard_normal(len(outliers)))
    return x


MAX_TRACE_VALUES = 1 << 28      # K values (and as many V) of a generated trace: float64 while generated, 2 GiB each


def check_trace_size(tokens: int, kv_heads: int, head_dim: int, steps: int, q_heads: int) -> None:
    """Refuse a trace too large to generate in memory, naming the sizes and the limit."""
    kv, q = tokens * kv_heads * head_dim, steps * q_heads * head_dim
    if kv > MAX_TRACE_VALUES:
        raise TraceError(f"tokens: {tokens} x {kv_heads} kv heads x head_dim {head_dim} = {kv:,} K values, above "
                         f"the limit of {MAX_TRACE_VALUES:,} (a trace is generated in memory)")
    if q > MAX_TRACE_VALUES:
        raise TraceError(f"steps: {steps} x {q_heads} q heads x head_dim {head_dim} = {q:,} query values, above "
                         f"the limit of {MAX_TRACE_VALUES:,} (a trace is generated in memory)")


def generate_trace(*, tokens: int, steps: int = 1, q_heads: int = 8, kv_heads: int = 2,
                   head_dim: int = 128, dtype: str = "fp16", dist: str = "gaussian",
                   seed: int = 0) -> KVTrace:
    """A random trace.

    ``gaussian``: q, k, v ~ N(0, 1). ``heavy``: Student-t values with outlier
    channels in K and q (as real keys have), so scores have a wide range and
    attention is peaked; V is Student-t without outlier channels.
    """
    if dtype not in TRACE_DTYPES:
        raise TraceError(f"dtype: {dtype!r} is not one of {sorted(TRACE_DTYPES)}")
    if dist not in DISTRIBUTIONS:
        raise TraceError(f"dist: {dist!r} is not one of {list(DISTRIBUTIONS)}")
    for field, value in (("tokens", tokens), ("steps", steps), ("q_heads", q_heads),
                         ("kv_heads", kv_heads), ("head_dim", head_dim)):
        if not isinstance(value, int) or value < 1:
            raise TraceError(f"{field}: must be a positive integer, not {value!r}")
    if q_heads % kv_heads:
        raise TraceError(f"q_heads: {q_heads} is not a multiple of kv_heads {kv_heads}")
    check_trace_size(tokens, kv_heads, head_dim, steps, q_heads)
    fmt = TRACE_DTYPES[dtype]
    rng = np.random.default_rng(seed)
    if dist == "gaussian":
        q = rng.standard_normal((steps, q_heads, head_dim))
        k = rng.standard_normal((tokens, kv_heads, head_dim))
        v = rng.standard_normal((tokens, kv_heads, head_dim))
    else:
        outliers = rng.choice(head_dim, size=max(1, head_dim // 32), replace=False)
        q = _heavy(rng, (steps, q_heads, head_dim), outliers) * 0.5
        k = _heavy(rng, (tokens, kv_heads, head_dim), outliers)
        v = rng.standard_t(3, size=(tokens, kv_heads, head_dim)) / np.sqrt(3.0)
    info = {"generator": "pam trace gen", "dist": dist, "seed": seed}
    return KVTrace(fmt, *(fmt.from_float(x).astype(np.uint16) for x in (k, v, q)), info=info)
