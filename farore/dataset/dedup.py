"""Exact and near-duplicate dialogues; the first of each pair is kept.

Two comparisons per pair of dialogues (system prompts left out: v1 files repeat one on every
line):

* the whole conversation (user and assistant turns): exact when the normalized texts are equal
  (case and whitespace folded); near when the Jaccard similarity of their word 3-shingles,
  after masking numbers and hex literals, is at least ``DIALOGUE_THRESHOLD``. Masking makes a
  clone that only changes addresses and constants count as the clone it is;
* the code the user shows (the fenced blocks of the user turns): exact when the normalized,
  comment-stripped code lines are equal; near when the Jaccard similarity of their 2-line
  shingles is at least ``CODE_THRESHOLD``. The same code twice with two different answers
  teaches either nothing or a contradiction.

Thresholds, measured on the 117 curated dialogues written first: the most similar pair of
distinct dialogues scored 0.09 on the dialogue measure (different bugs of one category share
vocabulary and the answer skeleton, not runs of three words) and 0.38 on the code measure (two
NMI handlers sharing the usual PHA/PHX/PHY prologue and epilogue), while a clone with renamed
labels and changed addresses scored 0.94 on the dialogue measure and the same user code with a
new answer 1.0 on the code measure. ``DIALOGUE_THRESHOLD`` = 0.5 and ``CODE_THRESHOLD`` = 0.6
sit between the two. Code is not masked: DMA set-ups differ mainly in their constants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tqdm import tqdm

from farore.dataset.schema import Dialogue, Finding
from farore.dataset.similarity import Shingles, code_blocks, code_lines, jaccard, mask_literals, normalize_text
from farore.dataset.similarity import shingles as make_shingles
from farore.dataset.similarity import words

DIALOGUE_THRESHOLD = 0.5
CODE_THRESHOLD = 0.6
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

    def findings(self) -> list[Finding]:
        findings = []
        for pair in self.pairs:
            path, line = pair.second.rsplit(":", 1)
            how = "identical" if pair.kind == "exact" else f"{pair.similarity:.2f} similar"
            what = "dialogue" if pair.scope == "dialogue" else "user code"
            findings.append(Finding(path, int(line), f"{pair.kind}-duplicate", f"{what} {how} to {pair.first}"))
        return findings


@dataclass(frozen=True)
class _Fingerprint:
    text: str
    text_shingles: Shingles
    code: str
    code_shingles: Shingles


def _fingerprint(dialogue: Dialogue) -> _Fingerprint:
    text = normalize_text(dialogue.conversation)
    lines = [line for turn in dialogue.texts("user") for block in code_blocks(turn) for line in code_lines(block)]
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
