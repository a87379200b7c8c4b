"""Text normalization and shingle overlap, shared by the dedup and contamination gates.

A shingle is a run of ``size`` consecutive tokens (words of prose, or whole lines of code). Two
texts are compared by the overlap of their shingle sets: Jaccard (shared / union) when neither
text should contain the other, containment (shared / the smaller text's shingles) when one
text may be embedded in a larger one. Shingles keep local word order, which bag-of-words
measures lose, and cost one set intersection per pair, where difflib's SequenceMatcher is
quadratic in the text length (stdlib only: rapidfuzz is not a dependency).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from farore.scoring import normalize

_SPACE = re.compile(r"\s+")
_LITERAL = re.compile(r"\$[0-9a-f]+|(?<![\w$])\d+(?![\w])")
_WORD = re.compile(r"[a-z0-9$#_.']+")
_FENCED = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)

Shingles = frozenset[tuple[str, ...]]


def normalize_text(text: str) -> str:
    """Lower case, typographic quotes and dashes folded, runs of whitespace made one space."""
    return _SPACE.sub(" ", normalize(text).lower()).strip()


def mask_literals(text: str) -> str:
    """Replace hex ($1F, #$20) and decimal numbers by 0, so that clones differing only in
    addresses and constants still look alike. Expects normalized (lower-case) text."""
    return _LITERAL.sub("0", text)


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def code_blocks(text: str) -> list[str]:
    """The bodies of the fenced code blocks of a markdown text."""
    return _FENCED.findall(text)


def code_lines(text: str) -> list[str]:
    """Non-empty lines with their ``;`` comments removed, normalized: renaming a comment or
    re-indenting does not hide a copy."""
    lines = (normalize_text(line.split(";", 1)[0]) for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("```")]


def shingles(tokens: Sequence[str], size: int) -> Shingles:
    if len(tokens) < size:
        return frozenset({tuple(tokens)}) if tokens else frozenset()
    return frozenset(tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1))


def jaccard(first: Shingles, second: Shingles) -> float:
    if not first or not second:
        return 0.0
    return len(first & second) / len(first | second)


def containment(part: Shingles, whole: Shingles) -> float:
    """The share of ``part``'s shingles that also occur in ``whole``."""
    if not part:
        return 0.0
    return len(part & whole) / len(part)
