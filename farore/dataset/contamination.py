"""Benchmark contamination: no training dialogue may reproduce a benchmark case.

For each benchmark case and each dialogue (every turn, system prompts included):

* ``prompt``: the case's whole prompt, normalized (case and whitespace folded), occurs in the
  dialogue's normalized text;
* ``code``: one of the case's code blocks (its fenced blocks, or the whole prompt when it has
  none) occurs instruction for instruction in the dialogue, compared in the canonical form of
  :func:`farore.dataset.similarity.code_lines` (comments, layout and label names do not count);
* ``near-code``: at least ``NEAR_CODE_THRESHOLD`` of that block's 2-instruction shingles occur
  among the dialogue's (containment, not Jaccard, so that the block is found inside a longer
  routine).

Blocks of fewer than ``MIN_BLOCK_LINES`` instructions are only checked through the prompt: a
few generic lines (``PLP`` / ``RTL``) prove nothing.

Threshold, measured on 171 curated dialogues against 50 benchmark cases: the largest
containment of distinct code was 0.70 (NMI handlers, whose PHA/PHX/PHY/PHB/PHD prologue and
mirrored epilogue every handler shares); a benchmark block copied with new comments, layout and
label names scores 1.0, and with one constant changed as well 0.86 for the median block (0.60
for the shortest ones, which this gate then misses). 0.8 flags the copies and not the idioms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tqdm import tqdm

from farore.cases import Case
from farore.dataset.schema import Dialogue, Finding
from farore.dataset.similarity import Shingles, code_blocks, code_lines, containment, normalize_text, shingles

NEAR_CODE_THRESHOLD = 0.8
MIN_BLOCK_LINES = 4
SHINGLE_LINES = 2


@dataclass(frozen=True)
class Hit:
    path: str
    line: int
    dialogue_id: str | None
    case_id: str
    kind: Literal["prompt", "code", "near-code"]
    overlap: float

    def finding(self) -> Finding:
        what = {
            "prompt": "contains the prompt",
            "code": "contains the code (comments, layout and labels aside)",
            "near-code": f"nearly reproduces the code ({self.overlap:.0%} of its line pairs)",
        }[self.kind]
        return Finding(self.path, self.line, "contamination", f"{what} of benchmark case {self.case_id}")


@dataclass(frozen=True)
class ContaminationResult:
    dialogues: int
    cases: int
    threshold: float
    hits: tuple[Hit, ...]

    @property
    def passed(self) -> bool:
        return not self.hits

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(hit.finding() for hit in self.hits)


def _joined(lines: Sequence[str]) -> str:
    """Lines joined so that a substring test matches whole lines only."""
    return "\n" + "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _Block:
    text: str
    shingles: Shingles


@dataclass(frozen=True)
class _Fingerprint:
    text: str
    lines: str
    shingles: Shingles


@dataclass(frozen=True)
class _CasePrint:
    id: str
    prompt: str
    blocks: tuple[_Block, ...]


def _case_print(case: Case) -> _CasePrint:
    blocks = []
    for source in code_blocks(case.prompt) or [case.prompt]:
        lines = code_lines(source)
        if len(lines) >= MIN_BLOCK_LINES:
            blocks.append(_Block(_joined(lines), shingles(lines, SHINGLE_LINES)))
    return _CasePrint(case.id, normalize_text(case.prompt), tuple(blocks))


def _fingerprint(dialogue: Dialogue) -> _Fingerprint:
    text = "\n".join(m.content for m in dialogue.messages)
    lines = code_lines(text)
    return _Fingerprint(normalize_text(text), _joined(lines), shingles(lines, SHINGLE_LINES))


def _match(case: _CasePrint, dialogue: _Fingerprint, threshold: float):
    """The strongest way the dialogue reproduces the case: (kind, overlap) or None."""
    if case.prompt in dialogue.text:
        return "prompt", 1.0
    best = 0.0
    for block in case.blocks:
        if block.text in dialogue.lines:
            return "code", 1.0
        best = max(best, containment(block.shingles, dialogue.shingles))
    return ("near-code", best) if best > 0 and best >= threshold else None


def find_contamination(
    dialogues: Sequence[Dialogue], cases: Sequence[Case], threshold: float = NEAR_CODE_THRESHOLD
) -> ContaminationResult:
    """Every (dialogue, case) pair where the dialogue reproduces the case, in file order."""
    prints = [_case_print(case) for case in cases]
    hits = []
    for dialogue in tqdm(dialogues, desc="contamination", unit="dialogue", disable=None, leave=False):
        fingerprint = _fingerprint(dialogue)
        for case in prints:
            match = _match(case, fingerprint, threshold)
            if match:
                kind, overlap = match
                hits.append(Hit(dialogue.path, dialogue.line, dialogue.id, case.id, kind, round(overlap, 3)))
    return ContaminationResult(len(dialogues), len(cases), threshold, tuple(hits))
