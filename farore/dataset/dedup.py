"""Exact and near-duplicate dialogues; the first of each pair is kept.

Two comparisons per pair of dialogues (system prompts left out: v1 files repeat one on every
line):

* the whole conversation (user and assistant turns): exact when the normalized texts are equal
  (case and whitespace folded); near when the Jaccard similarity of their word 3-shingles,
  after masking numbers and hex literals, is at least ``DIALOGUE_THRESHOLD``. Masking makes a
  clone that only changes addresses and constants count as the clone it is;
* the code the user shows (the instructions of the user turns, in the canonical form of
  :func:`farore.dataset.similarity.code_lines`, so label names and comments do not count):
  exact when equal, near when the Jaccard similarity of their 2-instruction shingles is at
  least ``CODE_THRESHOLD``. The same code twice with two different answers teaches either
  nothing or a contradiction.

Thresholds, measured on the 171 shipped dialogues: the most similar pair of distinct dialogues
scored 0.09 on the dialogue measure (different bugs of one category share vocabulary and the
answer skeleton, not runs of three words) and 0.58 on the code measure (two NMI handlers with
the usual PHA/PHX/PHY prologue and epilogue). Cloning each dialogue with its labels renamed, some
addresses changed and a phrase reworded gave 0.71 to 1.0 (median 0.97) on the dialogue
measure; code that differs only in labels, comments and layout scores 1.0 on the code measure.
``DIALOGUE_THRESHOLD`` = 0.5 and ``CODE_THRESHOLD`` = 0.8 sit between the two. Constants are
kept in the code measure: DMA set-ups differ mainly in them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tqdm import tqdm

from farore.dataset.schema import Dialogue, Finding
from farore.dataset.similarity import Shingles, code_lines, jaccard, mask_literals, normalize_text
from farore.dataset.similarity import shingles as make_shingles
from farore.dataset.similarity import words

DIALOGUE_THRESHOLD = 0.5
CODE_THRESHOLD = 0.8
DIALOGUE_SHINGLE_WORDS = 3
CODE_SHINGLE_LINES = 2


@dataclass(frozen=True)
class DuplicatePair:
    kind: Literal["exact", "near"]
    scope: Literal["dialogue", "code"]
    first: str
    second: str
    similarity: float


@dataclass(frozen=True)
class DedupResult:
    dialogues: int
    pairs: tuple[DuplicatePair, ...]
    dropped: tuple[str, ...]
    dialogue_threshold: float
    code_threshold: float

    @property
    def passed(self) -> bool:
        return not self.pairs

    @property
    def findings(self) -> tuple[Finding, ...]:
        findings = []
        for pair in self.pairs:
            path, line = pair.second.rsplit(":", 1)
            how = "identical" if pair.kind == "exact" else f"{pair.similarity:.2f} similar"
            what = "dialogue" if pair.scope == "dialogue" else "user code"
            findings.append(Finding(path, int(line), f"{pair.kind}-duplicate", f"{what} {how} to {pair.first}"))
        return tuple(findings)


@dataclass(frozen=True)
class _Fingerprint:
    text: str
    text_shingles: Shingles
    code: str
    code_shingles: Shingles


def _fingerprint(dialogue: Dialogue) -> _Fingerprint:
    text = normalize_text(dialogue.conversation)
    lines = code_lines("\n".join(dialogue.texts("user")))
    return _Fingerprint(
        text,
        make_shingles(words(mask_literals(text)), DIALOGUE_SHINGLE_WORDS),
        "\n".join(lines),
        make_shingles(lines, CODE_SHINGLE_LINES),
    )


def _compare(first: _Fingerprint, second: _Fingerprint, dialogue_threshold: float, code_threshold: float):
    """The strongest duplicate relation of two dialogues: (kind, scope, similarity) or None."""
    if first.text == second.text:
        return "exact", "dialogue", 1.0
    text_similarity = jaccard(first.text_shingles, second.text_shingles)
    if text_similarity >= dialogue_threshold:
        return "near", "dialogue", text_similarity
    if first.code and first.code == second.code:
        return "exact", "code", 1.0
    code_similarity = jaccard(first.code_shingles, second.code_shingles)
    if code_similarity >= code_threshold:
        return "near", "code", code_similarity
    return None


def find_duplicates(
    dialogues: Sequence[Dialogue],
    dialogue_threshold: float = DIALOGUE_THRESHOLD,
    code_threshold: float = CODE_THRESHOLD,
) -> DedupResult:
    """Every duplicate pair (in file order) and the dialogues dropped so that the first is kept."""
    prints = [_fingerprint(d) for d in dialogues]
    pairs: list[DuplicatePair] = []
    dropped: set[int] = set()
    for j in tqdm(range(len(dialogues)), desc="dedup", unit="dialogue", disable=None, leave=False):
        for i in range(j):
            relation = _compare(prints[i], prints[j], dialogue_threshold, code_threshold)
            if relation is None:
                continue
            kind, scope, similarity = relation
            pairs.append(DuplicatePair(kind, scope, dialogues[i].where, dialogues[j].where, round(similarity, 3)))
            if i not in dropped:
                dropped.add(j)
    return DedupResult(
        len(dialogues),
        tuple(pairs),
        tuple(dialogues[j].where for j in sorted(dropped)),
        dialogue_threshold,
        code_threshold,
    )


def kept(dialogues: Sequence[Dialogue], result: DedupResult) -> list[Dialogue]:
    dropped = set(result.dropped)
    return [d for d in dialogues if d.where not in dropped]
