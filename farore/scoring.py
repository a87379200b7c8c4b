"""Keyword scoring: pure functions over response text.

Whole-term matching (the default) finds a concept when one of its spellings stands as a term
of its own:

* case-insensitive, except a one-letter spelling ("Y", "A", "X": register names), which must
  match its case so that "Y" is not the y of "everything";
* a hyphen in a spelling matches a hyphen, a space or nothing ("16-bit" ~ "16 bit" ~ "16bit");
  a space matches any run of spaces or hyphens;
* the term may not continue into a longer word ("mode" is not found in "model", "balance" is not
  found in "imbalance"), except for regular inflections of a lowercase word ("clobber" is found
  in "clobbers", "clobbered", "clobbering"; "preserve" in "preserved", "preserving").

Legacy matching reproduces the original evaluation script: every spelling is a keyword of its
own, found when it is a substring of the lower-cased response; an anti-keyword halves the score.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from farore.cases import Case, Concept

ScoringMode = Literal["whole-term", "legacy"]
SCORING_MODES: tuple[ScoringMode, ...] = ("whole-term", "legacy")

_WORD_CHAR = r"A-Za-z0-9_"
_INFLECTIONS = r"(?:s|es|d|ed|ing|ings)?"


@dataclass(frozen=True)
class CaseScore:
    score: float
    passed: bool
    found: tuple[str, ...]
    missing: tuple[str, ...]
    anti_keywords: tuple[str, ...]


def normalize(text: str) -> str:
    """Fold typographic apostrophes and dashes so that spellings match either form."""
    return text.replace("\u2019", "'").replace("\u2018", "'").replace("\u2010", "-").replace("\u2011", "-")


@lru_cache(maxsize=4096)
def term_pattern(term: str) -> re.Pattern[str]:
    term = normalize(term.strip())
    parts = re.split(r"(\s+|-)", term)
    body = "".join(
        r"[\s\-]+" if part.isspace() else r"[\s\-]?" if part == "-" else re.escape(part)
        for part in parts
        if part
    )
    if term[-1].islower() and len(term) >= 3:
        stem = body[:-1] if term.endswith("e") else None
        body = f"(?:{body}{_INFLECTIONS}|{stem}ing)" if stem else f"{body}{_INFLECTIONS}"
    start = f"(?<![{_WORD_CHAR}])" if re.match(rf"[{_WORD_CHAR}]", term) else ""
    flags = 0 if len(term) == 1 else re.IGNORECASE
    return re.compile(f"{start}{body}(?![{_WORD_CHAR}])", flags)


def find_term(text: str, term: str) -> bool:
    return term_pattern(term).search(normalize(text)) is not None


def concept_found(text: str, concept: Concept) -> bool:
    return any(find_term(text, spelling) for spelling in concept.spellings)


def concept_share(text: str, concepts: Sequence[Concept]) -> float:
    """The share of the concepts the text uses, as :func:`score_whole_term` scores a case."""
    return sum(concept_found(text, c) for c in concepts) / len(concepts) if concepts else 0.0


def find_anti_keywords(text: str, anti_keywords: Iterable[str]) -> tuple[str, ...]:
    return tuple(keyword for keyword in anti_keywords if find_term(text, keyword))


def score_whole_term(text: str, case: Case) -> CaseScore:
    found = tuple(c.name for c in case.concepts if concept_found(text, c))
    missing = tuple(c.name for c in case.concepts if c.name not in found)
    anti = find_anti_keywords(text, case.anti_keywords)
    score = len(found) / len(case.concepts)
    return CaseScore(score, score >= case.threshold and not anti, found, missing, anti)


def score_legacy(text: str, case: Case) -> CaseScore:
    """The original script's arithmetic, kept so that old numbers stay comparable."""
    lowered = text.lower()
    keywords = [spelling for concept in case.concepts for spelling in concept.spellings]
    found = tuple(k for k in keywords if k.lower() in lowered)
    missing = tuple(k for k in keywords if k not in found)
    anti = tuple(k for k in case.anti_keywords if k.lower() in lowered)
    if keywords:
        score = len(found) / len(keywords)
    else:
        score = 0.0 if anti else 1.0
    if anti:
        score *= 0.5
    return CaseScore(score, score >= case.threshold and not anti, found, missing, anti)


def score_response(text: str, case: Case, mode: ScoringMode = "whole-term") -> CaseScore:
    if mode == "legacy":
        return score_legacy(text, case)
    return score_whole_term(text, case)
