"""The seed's behavioural goals, each a precise check over one response (pure functions).

* ``diagnosis_first``: a sentence naming the bug (a bug header such as ``**Bug: ...**`` or a
  sentence with a bug word: bug, problem, issue, cause, wrong, mismatch, imbalance, clobber,
  corrupt, missing, forgot) comes before the first fix marker (a code block, ``Fix``,
  ``Solution``, ``to fix``, ``replace``, ``change ... to``, ``you should``). A response with a
  fix and no diagnosis, or a fix before the diagnosis, fails.
* ``explains_symptom``: the response states a cause-effect link (because, causes, caused,
  which is why, that's why, so the, as a result, leads to, results in, this means, which means)
  and mentions the symptom the user reported: at least one content word of the case's
  ``symptom`` (four letters or more, not a stop word), matched as a whole term. Cases without a
  symptom need only the causal link.
* ``precise_terminology``: at least three distinct terms of the 65816/SNES glossary below.
* ``shows_reasoning``: at least two numbered steps (``1.``/``2)`` at line starts) or at least two
  sequence words opening sentences (First, Second, Then, Next, After that, Finally).
"""

from __future__ import annotations

import re

from farore.cases import Case
from farore.scoring import find_term, normalize

BEHAVIOUR_GOALS: tuple[str, ...] = (
    "diagnosis_first",
    "explains_symptom",
    "precise_terminology",
    "shows_reasoning",
)

_DIAGNOSIS = re.compile(
    r"\*\*\s*bug\b|\b(?:bug|problem|issue|cause|wrong|mismatch\w*|imbalance\w*|unbalanced"
    r"|clobber\w*|corrupt\w*|missing|forg[eo]t\w*)\b",
    re.IGNORECASE,
)
_FIX = re.compile(
    r"```|\*\*\s*fix|\bfix\s*:|\bto fix\b|\bsolution\b|\breplace\b|\bchange\b[^.\n]{0,60}\bto\b|\byou should\b",
    re.IGNORECASE,
)
_CAUSAL = re.compile(
    r"\b(?:because|causes|caused|which is why|that's why|that is why|so the|as a result"
    r"|leads to|results in|this means|which means)\b",
    re.IGNORECASE,
)
_NUMBERED_STEP = re.compile(r"^\s*\d+[.)]\s+\S", re.MULTILINE)
_SEQUENCE_WORD = re.compile(r"(?:^|[.!?]\s+)(?:First|Second|Third|Then|Next|After that|Finally)\b", re.MULTILINE)
_STOP_WORDS = frozenset(
    "that this with when after before from into then than they them their there what which while "
    "where have been being were does doing done just only also some every still game screen value "
    "instead".split()
)
GLOSSARY: tuple[str, ...] = (
    "REP", "SEP", "M flag", "X flag", "accumulator", "index register", "16-bit", "8-bit",
    "stack pointer", "direct page", "data bank", "DBR", "program bank", "PHA", "PLA", "PHX", "PLX",
    "PHY", "PLY", "PHP", "PLP", "PHB", "PLB", "JSR", "RTS", "JSL", "RTL", "RTI", "DMA", "HDMA",
    "$420B", "$4305", "$4306", "immediate", "opcode", "operand", "caller-save", "callee-save",
    "clobber", "preserve", "V-blank", "NMI", "IRQ", "VRAM", "CGRAM", "OAM", "byte count",
    "return address", "carry flag", "zero flag",
)


def diagnosis_first(text: str) -> bool:
    diagnosis = _DIAGNOSIS.search(text)
    if diagnosis is None:
        return False
    fix = _FIX.search(text)
    return fix is None or diagnosis.start() < fix.start()


def symptom_words(symptom: str) -> list[str]:
    words = re.findall(r"[A-Za-z][A-Za-z'-]{3,}", symptom)
    return [w for w in dict.fromkeys(w.lower() for w in words) if w not in _STOP_WORDS]


def explains_symptom(text: str, symptom: str | None) -> bool:
    if _CAUSAL.search(normalize(text)) is None:
        return False
    words = symptom_words(symptom) if symptom else []
    return not words or any(find_term(text, word) for word in words)


def terminology_used(text: str) -> tuple[str, ...]:
    return tuple(term for term in GLOSSARY if find_term(text, term))


def precise_terminology(text: str) -> bool:
    return len(terminology_used(text)) >= 3


def shows_reasoning(text: str) -> bool:
    return len(_NUMBERED_STEP.findall(text)) >= 2 or len(_SEQUENCE_WORD.findall(text)) >= 2


def check_behaviour(text: str, case: Case) -> dict[str, bool]:
    return {
        "diagnosis_first": diagnosis_first(text),
        "explains_symptom": explains_symptom(text, case.symptom),
        "precise_terminology": precise_terminology(text),
        "shows_reasoning": shows_reasoning(text),
    }
