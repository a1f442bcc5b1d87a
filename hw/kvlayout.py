"""The column order a PU consumes from its bank, defined by the PU's sequencer (``hw.pu``).

Per block of B tokens: K chunk-major (for each chunk c, every token's chunk c),
then V token-major (each token's chunks in order). ``kv_columns`` builds that
stream from K and V rows; ``lanes_word`` packs one column's lanes into the word
the bank stores. Where the stream lives in the bank is the host's job.
"""

from __future__ import annotations

import numpy as np

from golden.formats import FloatFormat

__all__ = ["kv_columns", "lanes_word"]


def lanes_word(lanes, fmt: FloatFormat) -> int:
    """Pack lanes of ``fmt`` bit patterns (``fmt.width`` bits each) into one column word, lane 0 in the low bits."""
    return sum(int(x) << (fmt.width * i) for i, x in enumerate(lanes))


def kv_columns(k, v, lanes: int, block: int) -> list[list[int]]:
    """k, v : [tokens, head_dim] bit patterns -> the list of W-lane columns the PU reads."""
    k, v = np.asarray(k), np.asarray(v)
    tokens, head_dim = k.shape
    chunks = head_dim // lanes
    out = []
    for start in range(0, tokens, block):
        kb, vb = k[start:start + block], v[start:start + block]
        for c in range(chunks):
            out += [row[c * lanes:(c + 1) * lanes].tolist() for row in kb]
        for row in vb:
            out += [row[c * lanes:(c + 1) * lanes].tolist() for c in range(chunks)]
    return out
