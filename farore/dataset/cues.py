"""Surface cues: features of the user's turn that tell the categories apart without being the bug.

A small model learns the cheapest feature that predicts the label. Two were found in the curated
set, and neither exists in the benchmark:

- the mnemonics' case: the register-clobbering routines were written in lower case (88% of
  them), the mode routines in upper case (97%); the benchmark writes every routine in upper case;
- hints in the question: 66% of the mode-mismatch questions said "8-bit" or "16-bit" (or another
  of the category's benchmark concepts) in their prose, where the benchmark's questions describe
  only what goes wrong and leave such facts to the code and its comments.

The gate fails when the upper-case share of two categories differs by more than ``max_spread``,
or when more than ``max_hinted`` of a category's questions name its concepts outside the code.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from farore.cases import Case, Concept
from farore.dataset.balance import UNLABELLED
from farore.dataset.schema import Dialogue
from farore.dataset.similarity import code_blocks, prose
from farore.dataset.trace import written_mnemonics
from farore.scoring import concept_found

DEFAULT_MAX_SPREAD = 0.3
DEFAULT_MAX_HINTED = 0.2
#: Categories with fewer dialogues are left out: a share of a handful means nothing.
MIN_DIALOGUES = 10


@dataclass(frozen=True)
class CategoryCues:
    category: str
    dialogues: int
    with_code: int  # dialogues whose user turn holds code
    upper: int  # of them, those whose mnemonics are mostly upper case
    hinted: int  # dialogues whose user prose names one of the category's benchmark concepts

    @property
    def upper_share(self) -> float:
        return self.upper / self.with_code if self.with_code else 0.0

    @property
    def hinted_share(self) -> float:
        return self.hinted / self.dialogues if self.dialogues else 0.0


@dataclass(frozen=True)
class CueResult:
    categories: tuple[CategoryCues, ...]
    max_spread: float
    max_hinted: float

    @property
    def compared(self) -> tuple[CategoryCues, ...]:
        return tuple(c for c in self.categories if c.with_code >= MIN_DIALOGUES)

    @property
    def extremes(self) -> tuple[CategoryCues, CategoryCues] | None:
        """The categories with the lowest and the highest upper-case share, None with fewer than two."""
        if len(self.compared) < 2:
            return None
        ordered = sorted(self.compared, key=lambda c: c.upper_share)
        return ordered[0], ordered[-1]

    @property
    def spread(self) -> float:
        return self.extremes[1].upper_share - self.extremes[0].upper_share if self.extremes else 0.0

    @property
    def hinted(self) -> tuple[CategoryCues, ...]:
        """The categories whose questions name their own concepts too often."""
        return tuple(c for c in self.categories if c.dialogues >= MIN_DIALOGUES and c.hinted_share > self.max_hinted)

    @property
    def passed(self) -> bool:
        return self.spread <= self.max_spread and not self.hinted

    def problems(self) -> list[str]:
        problems = []
        if self.spread > self.max_spread:
            low, high = self.extremes
            problems.append(
                f"the mnemonics' case tells the categories apart: {high.category} {high.upper_share:.0%} of "
                f"dialogues in upper case, {low.category} {low.upper_share:.0%} (spread {self.spread:.0%} > "
                f"{self.max_spread:.0%}); write every category's code in the same mix of cases"
            )
        problems += [
            f"{c.category}: {c.hinted_share:.0%} of the questions ({c.hinted} of {c.dialogues}) name the category's "
            f"concepts outside the code (max {self.max_hinted:.0%}); let the user describe the symptom and "
            "leave such facts to the code and its comments"
            for c in self.hinted
        ]
        return problems


def upper_case_code(dialogue: Dialogue) -> bool | None:
    """Whether most mnemonics of the user's code are upper case; None when the user shows no code."""
    mnemonics = [m for text in dialogue.texts("user") for block in code_blocks(text) for m in written_mnemonics(block)]
    if not mnemonics:
        return None
    return sum(m.isupper() for m in mnemonics) * 2 > len(mnemonics)


def names_concepts(dialogue: Dialogue, concepts: Sequence[Concept]) -> bool:
    """Whether the user's prose (outside code blocks) uses one of ``concepts``, as the scorer matches them."""
    return any(concept_found(prose(text), concept) for text in dialogue.texts("user") for concept in concepts)


def measure_cues(
    dialogues: Sequence[Dialogue],
    cases: Sequence[Case],
    max_spread: float = DEFAULT_MAX_SPREAD,
    max_hinted: float = DEFAULT_MAX_HINTED,
) -> CueResult:
    concepts = {case.category: case.concepts for case in cases}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for dialogue in dialogues:
        count = counts[dialogue.category or UNLABELLED]
        count[0] += 1
        upper = upper_case_code(dialogue)
        if upper is not None:
            count[1] += 1
            count[2] += upper
        count[3] += names_concepts(dialogue, concepts.get(dialogue.category, ()))
    return CueResult(
        tuple(CategoryCues(category, *count) for category, count in sorted(counts.items())), max_spread, max_hinted
    )
