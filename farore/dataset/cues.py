"""Surface cues: features of the user's turn that tell the categories apart without being the bug.

A small model learns the cheapest feature that predicts the label. Found in the curated set, and
absent from the benchmark:

- the mnemonics' case: the register-clobbering routines were written in lower case (88% of
  them), the mode routines in upper case (97%); the benchmark writes every routine in upper case;
- hints in the question: 66% of the mode-mismatch questions said "8-bit" or "16-bit" (or another
  of the category's benchmark concepts) in their prose, where the benchmark's questions describe
  only what goes wrong and leave such facts to the code and its comments.

A style feature (``STYLES``: the case, and whether the user's prose follows the code) may vary,
but each category must show it about as often as the others: the gate fails when two categories'
shares differ by more than ``max_spread``, or when more than ``max_hinted`` of a category's
questions name its concepts outside the code.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
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
#: Prose after the last code block of at least this many words is a symptom told after the code.
TRAILING_WORDS = 6


def upper_case_code(dialogue: Dialogue) -> bool | None:
    """Whether most mnemonics of the user's code are upper case; None when the user shows no code."""
    mnemonics = [m for text in dialogue.texts("user") for block in code_blocks(text) for m in written_mnemonics(block)]
    if not mnemonics:
        return None
    return sum(m.isupper() for m in mnemonics) * 2 > len(mnemonics)


def prose_after_code(dialogue: Dialogue) -> bool | None:
    """Whether the user goes on writing after the code (a request, the code, then the symptom);
    None when the user shows no code."""
    text = dialogue.texts("user")[0]
    if not code_blocks(text):
        return None
    return len(text.rpartition("```")[2].split()) >= TRAILING_WORDS


STYLES: dict[str, Callable[[Dialogue], bool | None]] = {
    "upper case": upper_case_code,
    "prose after code": prose_after_code,
}


def names_concepts(dialogue: Dialogue, concepts: Sequence[Concept]) -> bool:
    """Whether the user's prose (outside code blocks) uses one of ``concepts``, as the scorer matches them."""
    return any(concept_found(prose(text), concept) for text in dialogue.texts("user") for concept in concepts)


@dataclass(frozen=True)
class Share:
    measured: int
    present: int

    @property
    def share(self) -> float:
        return self.present / self.measured if self.measured else 0.0


@dataclass(frozen=True)
class CategoryCues:
    category: str
    styles: dict[str, Share]  # by style name; measured over the dialogues with code
    hinted: Share  # dialogues whose user prose names one of the category's benchmark concepts


@dataclass(frozen=True)
class Spread:
    style: str
    low: CategoryCues
    high: CategoryCues

    @property
    def value(self) -> float:
        return self.high.styles[self.style].share - self.low.styles[self.style].share


@dataclass(frozen=True)
class CueResult:
    categories: tuple[CategoryCues, ...]
    max_spread: float
    max_hinted: float

    @property
    def spreads(self) -> tuple[Spread, ...]:
        """Per style, the categories (of at least MIN_DIALOGUES with code) that show it least and most."""
        spreads = []
        for style in STYLES:
            compared = sorted(
                (c for c in self.categories if c.styles[style].measured >= MIN_DIALOGUES),
                key=lambda c: c.styles[style].share,
            )
            if len(compared) >= 2:
                spreads.append(Spread(style, compared[0], compared[-1]))
        return tuple(spreads)

    @property
    def too_wide(self) -> tuple[Spread, ...]:
        return tuple(s for s in self.spreads if s.value > self.max_spread)

    @property
    def hinted(self) -> tuple[CategoryCues, ...]:
        """The categories whose questions name their own concepts too often."""
        return tuple(
            c for c in self.categories if c.hinted.measured >= MIN_DIALOGUES and c.hinted.share > self.max_hinted
        )

    @property
    def passed(self) -> bool:
        return not self.too_wide and not self.hinted

    def problems(self) -> list[str]:
        problems = [
            f"{s.style!r} tells the categories apart: {s.high.category} {s.high.styles[s.style].share:.0%} of its "
            f"dialogues, {s.low.category} {s.low.styles[s.style].share:.0%} (spread {s.value:.0%} > "
            f"{self.max_spread:.0%}); give every category the same mix"
            for s in self.too_wide
        ]
        problems += [
            f"{c.category}: {c.hinted.share:.0%} of the questions ({c.hinted.present} of {c.hinted.measured}) name the "
            f"category's concepts outside the code (max {self.max_hinted:.0%}); let the user describe the symptom "
            "and leave such facts to the code and its comments"
            for c in self.hinted
        ]
        return problems


def measure_cues(
    dialogues: Sequence[Dialogue],
    cases: Sequence[Case],
    max_spread: float = DEFAULT_MAX_SPREAD,
    max_hinted: float = DEFAULT_MAX_HINTED,
) -> CueResult:
    concepts = {case.category: case.concepts for case in cases}
    by_category: dict[str, list[Dialogue]] = defaultdict(list)
    for dialogue in dialogues:
        by_category[dialogue.category or UNLABELLED].append(dialogue)
    categories = []
    for category, members in sorted(by_category.items()):
        styles = {}
        for style, measure in STYLES.items():
            values = [v for v in map(measure, members) if v is not None]
            styles[style] = Share(len(values), sum(values))
        hinted = Share(len(members), sum(names_concepts(d, concepts.get(category, ())) for d in members))
        categories.append(CategoryCues(category, styles, hinted))
    return CueResult(tuple(categories), max_spread, max_hinted)
