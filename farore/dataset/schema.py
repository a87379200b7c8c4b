"""The dialogue line format (a pydantic model at the file boundary) and the JSONL loader.

One line per dialogue::

    {"id": "dma-001", "category": "dma_errors", "source": "curated",
     "messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}

``messages`` is what trl's SFTTrainer and the Hugging Face ``datasets`` JSON loader read: an
optional system message first, then user and assistant turns alternating, starting with a user
turn and ending with an assistant turn, none empty. ``id``, ``category``, ``source`` and
``commit`` (the git commit a mined dialogue comes from) are optional metadata; an id must be
unique across the files loaded together. Any other field is refused, so that a misspelt one
(``catgory``) is not silently ignored.

The loader never stops at the first bad line: every problem becomes a :class:`Finding`,
``file:line: field: message``, and the valid lines are still loaded so that the other gates can
run on them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from farore.report import atomic_write_text
from farore.resources import fixtures_dir

Role = Literal["system", "user", "assistant"]
Severity = Literal["error", "warning"]
SOURCES: tuple[str, ...] = ("curated", "expanded", "synthetic", "mined", "v1", "draft")
Source = Literal["curated", "expanded", "synthetic", "mined", "v1", "draft"]


def shipped_dataset_dir() -> Path:
    """The curated dataset shipped with farore: train.jsonl and valid.jsonl."""
    return fixtures_dir() / "datasets" / "curated"


class MessageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    content: str

    @field_validator("content")
    @classmethod
    def _not_blank(cls, content: str) -> str:
        if not content.strip():
            raise ValueError("must not be empty")
        return content


class DialogueSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    category: str | None = Field(default=None, pattern=r"^[a-z0-9_]+$")
    source: Source | None = None
    commit: str | None = Field(default=None, pattern=r"^[0-9a-f]{7,40}$")
    # Provenance of created lines (farore data expand / synthesize): the line varied, how, by what model.
    parent: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    transformations: list[str] | None = None
    model: str | None = None
    messages: list[MessageSpec] = Field(min_length=2)


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class Dialogue:
    path: str
    line: int
    messages: tuple[Message, ...]
    id: str | None = None
    category: str | None = None
    source: str | None = None
    commit: str | None = None
    parent: str | None = None
    transformations: tuple[str, ...] | None = None
    model: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def texts(self, role: str) -> list[str]:
        return [m.content for m in self.messages if m.role == role]

    @property
    def conversation(self) -> str:
        """The user and assistant turns: what the dialogue teaches, without a shared system prompt."""
        return "\n\n".join(m.content for m in self.messages if m.role != "system")


@dataclass(frozen=True)
class Finding:
    """One problem of one dataset line, printed as ``file:line: rule: message``."""

    path: str
    line: int
    rule: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.message}"


@dataclass(frozen=True)
class Dataset:
    files: tuple[str, ...]
    lines: int
    dialogues: tuple[Dialogue, ...]
    findings: tuple[Finding, ...]

    @property
    def passed(self) -> bool:
        return not self.findings


class DatasetError(ValueError):
    """Input that cannot be read at all (a missing path, a directory without .jsonl files)."""


def dataset_files(paths: Iterable[Path]) -> list[Path]:
    """Expand each directory into its own ``*.jsonl`` files (not recursive: ``parts/`` stays out)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.jsonl"))
            if not found:
                raise DatasetError(f"{path}: no .jsonl files in this directory")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise DatasetError(f"{path}: no such dataset file or directory")
    return files


def _role_order(messages: Sequence[MessageSpec]) -> tuple[int, str] | None:
    """The index and complaint of the first message out of the system?, (user, assistant)+ order."""
    start = 1 if messages[0].role == "system" else 0
    for index, message in enumerate(messages):
        if message.role == "system" and index > 0:
            return index, "a system message may only come first"
    for index, message in enumerate(messages[start:], start):
        expected = "user" if (index - start) % 2 == 0 else "assistant"
        if message.role != expected:
            return index, f"expected {expected!r} (turns alternate user, assistant), got {message.role!r}"
    if messages[-1].role != "assistant":
        return len(messages) - 1, "the dialogue must end with an assistant turn"
    return None


def parse_line(text: str, path: str, line: int) -> Dialogue | list[Finding]:
    """One JSONL line as a dialogue, or the findings that say why it is not one."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        return [Finding(path, line, "json", f"not valid JSON: {error.msg} (column {error.colno})")]
    try:
        spec = DialogueSpec.model_validate(document)
    except ValidationError as error:
        return [
            Finding(path, line, ".".join(str(p) for p in e["loc"]) or "line", e["msg"].removeprefix("Value error, "))
            for e in error.errors()
        ]
    misplaced = _role_order(spec.messages)
    if misplaced:
        index, message = misplaced
        return [Finding(path, line, f"messages.{index}.role", message)]
    messages = tuple(Message(m.role, m.content) for m in spec.messages)
    transformations = tuple(spec.transformations) if spec.transformations is not None else None
    return Dialogue(path, line, messages, spec.id, spec.category, spec.source, spec.commit, spec.parent, transformations, spec.model)


def load_dataset(paths: Path | Iterable[Path]) -> Dataset:
    """Every dialogue of every file under ``paths``, with a finding for each bad line or repeated id."""
    paths = [paths] if isinstance(paths, Path) else list(paths)
    files = dataset_files(paths)
    dialogues: list[Dialogue] = []
    findings: list[Finding] = []
    seen_ids: dict[str, str] = {}
    lines = 0
    for file in files:
        for number, text in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not text.strip():
                continue
            lines += 1
            parsed = parse_line(text, str(file), number)
            if isinstance(parsed, list):
                findings.extend(parsed)
                continue
            if parsed.id is not None and parsed.id in seen_ids:
                findings.append(Finding(str(file), number, "id", f"{parsed.id!r} is already used at {seen_ids[parsed.id]}"))
                continue
            if parsed.id is not None:
                seen_ids[parsed.id] = parsed.where
            dialogues.append(parsed)
    return Dataset(tuple(map(str, files)), lines, tuple(dialogues), tuple(findings))


def dialogue_record(dialogue: Dialogue) -> dict:
    """The JSONL line of a dialogue, metadata first, absent metadata left out."""
    metadata = {"id": dialogue.id, "category": dialogue.category, "source": dialogue.source, "commit": dialogue.commit}
    metadata.update(parent=dialogue.parent, transformations=dialogue.transformations, model=dialogue.model)
    record = {key: list(value) if isinstance(value, tuple) else value for key, value in metadata.items() if value is not None}
    record["messages"] = [{"role": m.role, "content": m.content} for m in dialogue.messages]
    return record


def write_jsonl(path: Path, records: Iterable[dict]) -> int:
    """Write one JSON object a line, atomically; returns the number of lines."""
    lines = [json.dumps(record, ensure_ascii=False) for record in records]
    atomic_write_text(path, "".join(f"{line}\n" for line in lines))
    return len(lines)
