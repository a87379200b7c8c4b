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
_STATEMENT_SEPARATOR = re.compile(r"\s:\s")
_INSTRUCTION = re.compile(r"^(?:[\w.@+-]+:\s*)?([a-z]{3})(\.[bwl])?(?![\w.])\s*(.*)$")
_SYMBOL = re.compile(r"(?<![\w$])[a-z_.][\w.]*")
_REGISTERS = frozenset({"a", "x", "y", "s"})
_FENCED = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)

MNEMONICS = frozenset(
    "adc and asl bcc bcs beq bit bmi bne bpl bra brk brl bvc bvs clc cld cli clv cmp cop cpx cpy dec "
    "dex dey eor inc inx iny jml jmp jsl jsr lda ldx ldy lsr mvn mvp nop ora pea pei per pha phb phd "
    "phk php phx phy pla plb pld plp plx ply rep rol ror rti rtl rts sbc sec sed sei sep sta stp stx "
    "sty stz tax tay tcd tcs tdc trb tsb tsc tsx txa txs txy tya tyx wai wdm xba xce".split()
)
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


def prose(text: str) -> str:
    """A markdown text without its fenced code blocks: what the writer says, not what they show."""
    return _FENCED.sub("", text)


def _canonical_symbol(match: re.Match[str]) -> str:
    return match.group(0) if match.group(0) in _REGISTERS else "sym"


def code_lines(text: str) -> list[str]:
    """The 65816 instructions of a text, one a line, in a canonical form: lower case, comments,
    labels and spaces inside the operand dropped, every symbol (label, routine or constant name)
    replaced by ``sym``; numbers, size suffixes and register operands kept. Reformatting,
    re-commenting or renaming the labels of a routine leaves its lines unchanged, while lines
    of prose are not instructions and drop out."""
    lines = []
    for raw in normalize(text).lower().splitlines():
        for statement in _STATEMENT_SEPARATOR.split(raw.split(";", 1)[0]):
            match = _INSTRUCTION.match(statement.strip())
            if match and match.group(1) in MNEMONICS:
                operand = _SYMBOL.sub(_canonical_symbol, _SPACE.sub("", match.group(3)))
                lines.append(f"{match.group(1)}{match.group(2) or ''} {operand}".rstrip())
    return lines


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
