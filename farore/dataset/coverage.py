"""Keyword coverage: which benchmark concepts the training answers teach, and which never occur.

A concept counts for a dialogue when the harness's own matcher
(:func:`farore.scoring.concept_found`) finds it in one of the dialogue's assistant replies: the
replies are what the model learns to say, so a concept that only the user mentions is not
covered. Each concept is counted over all dialogues and over the dialogues of its own category.

The ceiling of a category is the benchmark score a model would get by answering exactly like the
category's training answers (the mean share of the category's concepts per answer). Measured within
a generation budget (the answers cut to their first N tokens), it shows whether the answers reach
their vocabulary before the benchmark stops the model: a long answer that names the fix's PHY/PLY
after 300 tokens teaches a model to be cut off before it says it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from farore.cases import Case, Concept, categories
from farore.dataset.schema import Dialogue
from farore.scoring import concept_found, concept_share


@dataclass(frozen=True)
class Budget:
    """A generation budget: ``cut`` keeps the part of a reply a model writes within ``tokens``."""

    tokens: int
    cut: Callable[[str], str]


@dataclass(frozen=True)
class ConceptCoverage:
    name: str
    dialogues: int
    in_category: int


@dataclass(frozen=True)
class CategoryCoverage:
    category: str
    dialogues: int
    concepts: tuple[ConceptCoverage, ...]
    ceiling: float
    ceiling_in_budget: float | None = None

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.concepts if c.dialogues == 0)


@dataclass(frozen=True)
class CoverageResult:
    dialogues: int
    categories: tuple[CategoryCoverage, ...]
    budget_tokens: int | None = None

    @property
    def passed(self) -> bool:
        return not any(category.missing for category in self.categories)

    @property
    def concepts_total(self) -> int:
        return sum(len(category.concepts) for category in self.categories)

    @property
    def concepts_covered(self) -> int:
        return self.concepts_total - sum(len(category.missing) for category in self.categories)

    def problems(self) -> list[str]:
        return [
            f"{category.category}: concept {name!r} never occurs in an assistant reply"
            for category in self.categories
            for name in category.missing
        ]


def category_concepts(cases: Sequence[Case]) -> dict[str, list[Concept]]:
    """Each category's concepts, the file's and every case's extras, once each by name."""
    found: dict[str, dict[str, Concept]] = {category: {} for category in categories(cases)}
    for case in cases:
        for concept in case.concepts:
            found[case.category].setdefault(concept.name, concept)
    return {category: list(concepts.values()) for category, concepts in found.items()}


def ceiling(replies: Sequence[str], concepts: Sequence[Concept]) -> float:
    """The mean share of the concepts each reply uses: the score of a model that answers like them."""
    if not replies:
        return 0.0
    return sum(concept_share(text, concepts) for text in replies) / len(replies)


def measure_coverage(dialogues: Sequence[Dialogue], cases: Sequence[Case], budget: Budget | None = None) -> CoverageResult:
    replies = ["\n\n".join(d.texts("assistant")) for d in dialogues]
    result = []
    for category, concepts in category_concepts(cases).items():
        own = [text for dialogue, text in zip(dialogues, replies) if dialogue.category == category]
        result.append(
            CategoryCoverage(
                category,
                len(own),
                tuple(
                    ConceptCoverage(
                        concept.name,
                        sum(concept_found(text, concept) for text in replies),
                        sum(concept_found(text, concept) for text in own),
                    )
                    for concept in concepts
                ),
                ceiling(own, concepts),
                ceiling([budget.cut(text) for text in own], concepts) if budget else None,
            )
        )
    return CoverageResult(len(dialogues), tuple(result), budget.tokens if budget else None)
