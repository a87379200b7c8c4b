"""The one small protocol every backend implements: conversations and settings in, text out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

Message = dict[str, str]

#: Prompts per generation batch for local models: the 50 built-in cases go as two batches of 25
#: (a cold full run measured on 2 cores: 157 s at 32, 182 s at 16).
DEFAULT_BATCH_SIZE = 32


@dataclass(frozen=True)
class GenerationSettings:
    """Greedy by default; sampling (temperature > 0) is seeded so that runs repeat."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    num_ctx: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass(frozen=True)
class Generation:
    text: str
    latency_s: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class BackendError(RuntimeError):
    """The backend cannot serve this run at all (server down, model missing, bad path)."""


class GenerationError(RuntimeError):
    """One request failed; the run goes on and the case is reported as errored."""


@runtime_checkable
class Backend(Protocol):
    kind: str
    model: str
    #: How many conversations ``generate`` handles well at once (1 for servers).
    batch_size: int

    def identity(self) -> str:
        """A stable fingerprint of the exact weights served, for caching and reports."""
        ...

    def check(self) -> None:
        """Fail fast with a BackendError naming what is wrong and how to fix it."""
        ...

    def generate(self, conversations: Sequence[list[Message]], settings: GenerationSettings) -> list[Generation]:
        """One Generation per conversation, in order; a failed one raises GenerationError."""
        ...
