"""Importers for the formats the user already has.

* **v1 chat JSONL** (``{"messages": [system, user, assistant]}``, a system prompt on every
  line): converted as-is into dialogue lines with ``source: v1`` and an id ``v1-<line>``, the
  messages untouched, so that ``farore data validate`` can then say what is wrong with them. Top
  level fields other than ``messages``, ``id`` and ``category`` are dropped and counted.
* **benchmark JSONL** (``{"id", "category", "difficulty", "code", "expected_output",
  "metadata": {"issue", "explanation", "symptom"}}``), either

  - as **cases**: one YAML case file per category in the format of :mod:`farore.cases`, the
    prompt built from the code and the symptom, the issue, explanation, difficulty and expected
    output kept in ``notes``. The concepts are the category's concepts in the given benchmark
    (``concepts_from``), plus ``expected_output`` when it is a list of keywords;
  - or as **draft dialogues** (``source: draft``): the same prompt as the user turn, and as the
    answer the expected output when it is text, else ``**Bug: <issue>**`` and the explanation.
    Drafts are for a human to finish; while their cases stay in the benchmark, the
    contamination gate rightly refuses them as training data.

A line that cannot be imported stops the import with one error naming the file, the line and
the field; nothing is written then.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from farore.cases import Case, Concept
from farore.report import atomic_write_text

V1_KEPT_FIELDS = ("messages", "id", "category")


class ImportFormatError(ValueError):
    """A source line that cannot be imported; the message names the file, the line and the field."""


def _json_objects(path: Path) -> Iterator[tuple[int, dict]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImportFormatError(f"{path}: no such file") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except json.JSONDecodeError as error:
            raise ImportFormatError(f"{path}:{number}: line: not valid JSON: {error.msg}") from None
        if not isinstance(document, dict):
            raise ImportFormatError(f"{path}:{number}: line: expected a JSON object")
        yield number, document


@dataclass(frozen=True)
class V1Import:
    records: tuple[dict, ...]
    dropped_fields: dict[str, int]


def import_v1(path: Path) -> V1Import:
    records = []
    dropped: Counter[str] = Counter()
    for number, document in _json_objects(path):
        if not isinstance(document.get("messages"), list):
            raise ImportFormatError(f"{path}:{number}: messages: expected a list of messages")
        record = {"id": str(document.get("id") or f"v1-{number:04d}")}
        if document.get("category") is not None:
            record["category"] = document["category"]
        record["source"] = "v1"
        record["messages"] = document["messages"]
        records.append(record)
        dropped.update(key for key in document if key not in V1_KEPT_FIELDS)
    return V1Import(tuple(records), dict(dropped))


class _BenchmarkMetadata(BaseModel):
    model_config = ConfigDict(extra="ignore")
    issue: str | None = None
    explanation: str | None = None
    symptom: str | None = None


class _BenchmarkItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | int
    category: str
    difficulty: str | int | None = None
    code: str
    expected_output: str | list[str] | None = None
    metadata: _BenchmarkMetadata = _BenchmarkMetadata()


@dataclass(frozen=True)
class BenchmarkItem:
    line: int
    id: str
    category: str
    prompt: str
    symptom: str | None
    notes: str
    keywords: tuple[str, ...]
    answer: str


def _slug(text: str, pattern: str) -> str:
    return re.sub(pattern, "_", text.strip().lower()).strip("_")


def _prompt(code: str, symptom: str | None) -> str:
    prompt = f"Find the bug in this code:\n\n```asm\n{code.strip()}\n```\n"
    return f"{prompt}\n{symptom.strip()}\n" if symptom and symptom.strip() else prompt


def load_benchmark_items(path: Path) -> list[BenchmarkItem]:
    items = []
    for number, document in _json_objects(path):
        try:
            spec = _BenchmarkItem.model_validate(document)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ImportFormatError(f"{path}:{number}: {field}: {first['msg']}") from None
        meta = spec.metadata
        expected = spec.expected_output
        notes = {
            "issue": meta.issue,
            "explanation": meta.explanation,
            "difficulty": spec.difficulty,
            "expected output": expected if isinstance(expected, str) else None,
        }
        answer = expected if isinstance(expected, str) and expected.strip() else ""
        if not answer and meta.issue:
            answer = f"**Bug: {meta.issue.strip()}**\n\n{(meta.explanation or '').strip()}".strip()
        items.append(
            BenchmarkItem(
                line=number,
                id=re.sub(r"[^A-Za-z0-9_.-]", "-", str(spec.id)).lstrip("-_.") or f"line-{number}",
                category=_slug(spec.category, r"[^a-z0-9]+"),
                prompt=_prompt(spec.code, meta.symptom),
                symptom=meta.symptom,
                notes="\n".join(f"{key}: {value}" for key, value in notes.items() if value not in (None, "")),
                keywords=tuple(expected) if isinstance(expected, list) else (),
                answer=answer,
            )
        )
    return items


def draft_dialogues(items: Sequence[BenchmarkItem]) -> list[dict]:
    return [
        {
            "id": item.id,
            "category": item.category,
            "source": "draft",
            "messages": [{"role": "user", "content": item.prompt}, {"role": "assistant", "content": item.answer}],
        }
        for item in items
    ]


def shared_concepts(cases: Sequence[Case]) -> dict[str, list[Concept]]:
    """Per category, the concepts that every case of it requires (the case file's own list)."""
    shared: dict[str, list[Concept]] = {}
    for case in cases:
        if case.category not in shared:
            shared[case.category] = list(case.concepts)
        else:
            names = {c.name for c in case.concepts}
            shared[case.category] = [c for c in shared[case.category] if c.name in names]
    return shared


def _concept_spec(concept: Concept) -> str | dict:
    plain = tuple(part.strip() for part in concept.name.split("/") if part.strip())
    return concept.name if plain == concept.spellings else {"name": concept.name, "any": list(concept.spellings)}


def case_documents(path: Path, items: Sequence[BenchmarkItem], known: dict[str, list[Concept]]) -> dict[str, dict]:
    """One case-file document per category; every case must end up with a concept to score."""
    documents: dict[str, dict] = {}
    for item in items:
        concepts = [_concept_spec(c) for c in known.get(item.category, [])]
        if not concepts and not item.keywords:
            raise ImportFormatError(
                f"{path}:{item.line}: category: no concepts known for {item.category!r} in the benchmark and "
                "expected_output is not a keyword list; add a case file of that category to --concepts-from"
            )
        document = documents.setdefault(
            item.category,
            {"category": item.category, "description": f"Imported from {path.name}", "concepts": concepts, "cases": []},
        )
        case = {"id": item.id, "prompt": item.prompt}
        if item.symptom:
            case["symptom"] = item.symptom
        names = {c if isinstance(c, str) else c["name"] for c in document["concepts"]}
        extra = [keyword for keyword in item.keywords if keyword not in names]
        if extra:
            case["concepts"] = extra
        if item.notes:
            case["notes"] = item.notes
        document["cases"].append(case)
    return documents


class _BlockStyleDumper(yaml.SafeDumper):
    """Multi-line strings as ``|`` blocks, so that imported prompts read like the shipped cases."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_BlockStyleDumper.add_representer(str, _represent_text)


def write_case_files(documents: dict[str, dict], directory: Path) -> list[Path]:
    written = []
    for category, document in documents.items():
        path = directory / f"{category}.yaml"
        text = yaml.dump(document, Dumper=_BlockStyleDumper, sort_keys=False, allow_unicode=True, width=100)
        atomic_write_text(path, text)
        written.append(path)
    return written
