"""A backend that answers from a script: for the harness's own tests and for dry runs.

Script file (YAML or JSON)::

    default: "text for any prompt no rule matches"
    rules:
      - match: "substring of the last user message"
        text: "the answer"
      - match: "another substring"
        error: "a message: this request fails with GenerationError"
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from farore.backends.base import BackendError, Generation, GenerationError, GenerationSettings, Message


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: str
    text: str | None = None
    error: str | None = None


class _Script(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default: str = ""
    rules: list[_Rule] = []


@dataclass
class ScriptedBackend:
    rules: list[tuple[str, str | None, str | None]]
    default: str = ""
    model: str = "scripted"
    kind: str = "scripted"
    batch_size: int = 8
    calls: list[str] = field(default_factory=list)

    @classmethod
    def from_file(cls, path: Path) -> ScriptedBackend:
        try:
            script = _Script.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise BackendError(f"{path}: no such script file") from None
        except (yaml.YAMLError, ValidationError) as error:
            raise BackendError(f"{path}: not a valid script: {error}") from None
        rules = [(r.match, r.text, r.error) for r in script.rules]
        return cls(rules=rules, default=script.default, model=f"scripted:{path.name}")

    def identity(self) -> str:
        return hashlib.sha256(repr((self.rules, self.default)).encode()).hexdigest()

    def check(self) -> None:
        return None

    def _answer(self, conversation: list[Message]) -> Generation:
        prompt = conversation[-1]["content"]
        self.calls.append(prompt)
        for match, text, error in self.rules:
            if match in prompt:
                if error is not None:
                    raise GenerationError(error)
                return Generation(text or "", latency_s=0.0, completion_tokens=len((text or "").split()))
        return Generation(self.default, latency_s=0.0, completion_tokens=len(self.default.split()))

    def generate(self, conversations: Sequence[list[Message]], settings: GenerationSettings) -> list[Generation]:
        return [self._answer(c) for c in conversations]
