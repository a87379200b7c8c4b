"""What the served-model backends (Ollama, OpenAI-compatible) share: the preflight request, one
answer's retries, and the wording of their failures, so that both report a dead server, a
timeout or a bad body alike.

A 429 or 5xx status and a refused connection are transient: retried with exponential backoff,
then reported. A timeout is not retried (the next attempt would most likely wait as long), and
neither is a malformed body or any other status: each becomes a GenerationError for that one
request, and the run goes on.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import httpx
from pydantic import ValidationError

from farore.backends.base import BackendError, Generation, GenerationError, GenerationSettings, Message

CONNECT_TIMEOUT_S = 10.0
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})

T = TypeVar("T")


class ServerStatus(Exception):
    """An HTTP error status from the server, in one shape whichever client saw it."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"status {status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    backoff_s: float = 0.5

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return self.backoff_s * 2 ** (attempt - 1)


def _transient(error: Exception) -> bool:
    if isinstance(error, ServerStatus):
        return error.status in TRANSIENT_STATUSES
    return isinstance(error, (ConnectionError, httpx.ConnectError))


class ServedBackend(ABC):
    """The part of a served-model backend that is not about its API: one request per
    conversation, the retries, and the wording of every failure.

    A subclass sets ``model``, ``timeout_s``, ``retry`` and ``server`` (how messages name the
    server, e.g. "Ollama at http://127.0.0.1:11434") and implements ``_answer``: one request and
    the parsing of its answer, raising ServerStatus for an error status and ValueError (pydantic's
    ValidationError and json's JSONDecodeError are ValueErrors) for a body it cannot read.
    """

    batch_size = 1  # one request per call; the runner's concurrency keeps several in flight
    model: str
    server: str
    timeout_s: float
    retry: RetryPolicy

    @abstractmethod
    def _answer(self, conversation: list[Message], settings: GenerationSettings) -> Generation: ...

    def generate(self, conversations: Sequence[list[Message]], settings: GenerationSettings) -> list[Generation]:
        return [self._answer_with_retries(conversation, settings) for conversation in conversations]

    def _answer_with_retries(self, conversation: list[Message], settings: GenerationSettings) -> Generation:
        attempt = 1
        while True:
            try:
                return self._answer(conversation, settings)
            except httpx.TimeoutException:
                raise GenerationError(
                    f"{self.model}: no answer from {self.server} within {self.timeout_s:g} s (raise --request-timeout)"
                ) from None
            except ValueError as error:
                raise GenerationError(f"{self.model}: malformed answer from {self.server}: {describe_unreadable(error)}") from None
            except (ServerStatus, ConnectionError, httpx.ConnectError) as error:
                if not _transient(error):
                    raise GenerationError(f"{self.model}: {self.server} refused the request: {error}") from None
                if attempt == self.retry.attempts:
                    what = error if isinstance(error, ServerStatus) else "connection refused"
                    raise GenerationError(f"{self.model}: {self.server} failed {self.retry.attempts} times: {what}") from None
                time.sleep(self.retry.delay(attempt))
                attempt += 1

    def _ask(self, what: str, call: Callable[[], T], start_hint: str, on_status: Mapping[int, BackendError] | None = None) -> T:
        """One preflight request (``check``): every way it can fail is a BackendError saying what to do.

        ``on_status`` maps an error status to the error that explains it (404: the model is
        missing, 401: the key is wrong); any other status is reported as it came.
        """
        try:
            return call()
        except (ConnectionError, httpx.ConnectError):
            raise BackendError(f"cannot reach {self.server}: {start_hint}") from None
        except httpx.TimeoutException:
            raise BackendError(f"{self.server} did not answer {what} within {self.timeout_s:g} s") from None
        except ServerStatus as error:
            if on_status and error.status in on_status:
                raise on_status[error.status] from None
            raise BackendError(f"{self.server} refused {what}: {error}") from None
        except ValueError as error:
            raise BackendError(f"{self.server} sent an unreadable answer to {what}: {describe_unreadable(error)}") from None


def describe_unreadable(error: ValueError) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return f"field {'.'.join(str(p) for p in first['loc'])!r}: {first['msg']}"
    return str(error).strip().splitlines()[0]
