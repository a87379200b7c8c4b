"""Keyword coverage: which benchmark concepts the training answers teach, and which never occur.

A concept counts for a dialogue when the harness's own matcher
(:func:`farore.scoring.concept_found`) finds it in one of the dialogue's assistant replies: the
replies are what the model learns to say, so a concept that only the user mentions is not
covered. Each concept is counted over all dialogues and over the dialogues of its own category.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from farore.cases import Case, Concept, categories
from farore.dataset.schema import Dialogue
from farore.scoring import concept_found


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

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.concepts if c.dialogues == 0)


@dataclass(frozen=True)
class CoverageResult:
    dialogues: int
    categories: tuple[CategoryCoverage, ...]

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


def measure_coverage(dialogues: Sequence[Dialogue], cases: Sequence[Case]) -> CoverageResult:
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
            )
        )
    return CoverageResult(len(dialogues), tuple(result))
