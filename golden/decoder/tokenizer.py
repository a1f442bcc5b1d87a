"""Byte-level BPE (GPT-2 style) from a GGUF file's vocabulary and merges.

The pre-tokenizer is SmolLM2's: every digit on its own, then GPT-2's split
(contractions, letter runs and digit runs with an optional leading space,
other symbols, whitespace). Python's ``re`` has no ``\\p{L}``, so letters are
``[^\\W\\d_]``: the same split for every Latin-script text.
"""

from __future__ import annotations

import functools
import re

__all__ = ["BPETokenizer"]

_SPLIT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")


@functools.cache
def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map of bytes to printable characters."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars, extra = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return dict(zip(range(256), chars))


class BPETokenizer:
    """Encode text to token ids and back. ``tokens``: id → token string; ``merges``: "a b" in rank order."""

    def __init__(self, tokens: list[str], merges: list[str]):
        self._tokens = list(tokens)
        self._ids = {t: i for i, t in enumerate(self._tokens)}
        self._ranks = {tuple(m.split(" ", 1)): r for r, m in enumerate(merges)}
        self._bytes = _byte_to_unicode()
        self._unbytes = {c: b for b, c in self._bytes.items()}
        self._cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        return len(self._tokens)

    def _word(self, word: str) -> list[int]:
        parts = [self._bytes[b] for b in word.encode("utf-8")]
        while len(parts) > 1:
            ranked = [(self._ranks.get(pair, len(self._ranks)), i) for i, pair in enumerate(zip(parts, parts[1:]))]
            rank, i = min(ranked)
            if rank == len(self._ranks):
                break
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        try:
            return [self._ids[p] for p in parts]
        except KeyError as exc:
            raise ValueError(f"text: the piece {exc.args[0]!r} is not in the vocabulary") from None

    def encode(self, text: str) -> list[int]:
        ids = []
        for piece in re.findall(r"\d|\D+", text):
            for word in _SPLIT.findall(piece):
                if word not in self._cache:
                    self._cache[word] = self._word(word)
                ids += self._cache[word]
        return ids

    def decode(self, ids) -> str:
        data = bytes(self._unbytes[c] for i in ids for c in self._tokens[int(i)] if c in self._unbytes)
        return data.decode("utf-8", errors="replace")
