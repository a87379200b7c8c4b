"""Benchmark cases: the YAML format, its validation and loading.

A case file holds one category::

    category: mode_mismatch
    description: ...
    concepts: [16-bit, 8-bit, mode, REP/SEP, size]   # required by every case of the file
    anti_keywords: [...]                              # optional; default: DEFAULT_ANTI_KEYWORDS
    threshold: 0.6                                    # optional; default for the file's cases
    cases:
      - id: mode-mismatch-01
        prompt: |
          ...
        symptom: the short phrase of what the user saw   # optional, used by the behaviour checks
        concepts: [...]        # optional: extra concepts on top of the file's
        anti_keywords: [...]   # optional: extra anti-keywords on top of the file's
        threshold: 0.6         # optional per-case pass threshold
        notes: for maintainers # optional

A concept is a string whose ``/`` separates alternative spellings ("REP/SEP" is met by REP or
SEP), or a mapping ``{name: ..., any: [...]}`` when a spelling itself contains a slash.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_ANTI_KEYWORDS: tuple[str, ...] = (
    "I cannot",
    "I can't",
    "I'm unable",
    "I am unable",
    "not sure",
    "as an AI",
    "as a language model",
    "I don't know",
    "I'm sorry",
    "I am sorry",
)
DEFAULT_THRESHOLD = 0.6


@dataclass(frozen=True)
class Concept:
    """An expected concept: found when any of its spellings appears as a whole term."""

    name: str
    spellings: tuple[str, ...]


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    prompt: str
    concepts: tuple[Concept, ...]
    anti_keywords: tuple[str, ...] = DEFAULT_ANTI_KEYWORDS
    threshold: float = DEFAULT_THRESHOLD
    symptom: str | None = None
    notes: str | None = None


class CaseFileError(ValueError):
    """A case file that cannot be used; the message names the file, the case and the field."""


class _ConceptSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    any: list[str] = Field(min_length=1)


ConceptSpec = str | _ConceptSpec


class _CaseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    prompt: str = Field(min_length=1)
    symptom: str | None = None
    notes: str | None = None
    concepts: list[ConceptSpec] = []
    anti_keywords: list[str] = []
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)


class _CaseFileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    description: str | None = None
    concepts: list[ConceptSpec] = []
    anti_keywords: list[str] | None = None
    threshold: float = Field(default=DEFAULT_THRESHOLD, ge=0.0, le=1.0)
    cases: list[_CaseSpec] = Field(min_length=1)

    @field_validator("concepts")
    @classmethod
    def _non_empty_spellings(cls, concepts: list[ConceptSpec]) -> list[ConceptSpec]:
        for concept in concepts:
            if isinstance(concept, str) and not concept.strip("/ "):
                raise ValueError("a concept must have at least one spelling")
        return concepts


def parse_concept(spec: ConceptSpec) -> Concept:
    if isinstance(spec, str):
        spellings = tuple(part.strip() for part in spec.split("/") if part.strip())
        return Concept(name=spec, spellings=spellings)
    return Concept(name=spec.name, spellings=tuple(spec.any))


def _describe(error: ValidationError, document: object) -> str:
    """Name the case (by id when it has one) and the field of the first validation error."""
    first = error.errors()[0]
    location = list(first["loc"])
    where = ""
    if len(location) >= 2 and location[0] == "cases" and isinstance(location[1], int):
        index = location[1]
        cases = document.get("cases") if isinstance(document, dict) else None
        case = cases[index] if isinstance(cases, list) and index < len(cases) else None
        case_id = case.get("id") if isinstance(case, dict) else None
        where = f"case {case_id!r}" if case_id else f"case #{index + 1}"
        location = location[2:]
    field = ".".join(str(part) for part in location) or "(document)"
    prefix = f"{where}: " if where else ""
    return f"{prefix}field {field!r}: {first['msg']}"


def load_case_file(path: Path) -> list[Case]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise CaseFileError(f"{path}: not valid YAML: {error}") from None
    try:
        spec = _CaseFileSpec.model_validate(document)
    except ValidationError as error:
        raise CaseFileError(f"{path}: {_describe(error, document)}") from None
    file_concepts = [parse_concept(c) for c in spec.concepts]
    file_anti = tuple(spec.anti_keywords) if spec.anti_keywords is not None else DEFAULT_ANTI_KEYWORDS
    cases = []
    for entry in spec.cases:
        concepts = tuple(file_concepts + [parse_concept(c) for c in entry.concepts])
        if not concepts:
            raise CaseFileError(f"{path}: case {entry.id!r}: field 'concepts': no concept to score")
        cases.append(
            Case(
                id=entry.id,
                category=spec.category,
                prompt=entry.prompt,
                concepts=concepts,
                anti_keywords=file_anti + tuple(entry.anti_keywords),
                threshold=entry.threshold if entry.threshold is not None else spec.threshold,
                symptom=entry.symptom,
                notes=entry.notes,
            )
        )
    return cases


def case_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories into their YAML files, sorted, so that runs are reproducible."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"}))
        elif path.exists():
            files.append(path)
        else:
            raise CaseFileError(f"{path}: no such case file or directory")
    return files


def load_cases(paths: Path | Iterable[Path]) -> list[Case]:
    """Load every case under ``paths``; ids must be unique across all files."""
    paths = [paths] if isinstance(paths, Path) else list(paths)
    cases: list[Case] = []
    seen: dict[str, Path] = {}
    for path in case_files(paths):
        for case in load_case_file(path):
            if case.id in seen:
                raise CaseFileError(
                    f"{path}: case {case.id!r}: field 'id': duplicate of the case in {seen[case.id]}"
                )
            seen[case.id] = path
            cases.append(case)
    if not cases:
        raise CaseFileError(f"{', '.join(map(str, paths))}: no case files found")
    return cases


def categories(cases: Iterable[Case]) -> list[str]:
    """Categories in first-seen order."""
    return list(dict.fromkeys(case.category for case in cases))
