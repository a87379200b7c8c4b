"""What the served-model backends (Ollama, OpenAI-compatible) share: one request's retries and
the wording of its failures, so that both report a timeout, a dead server or a bad body alike.

A 429 or 5xx status and a refused connection are transient: retried with exponential backoff,
then reported. A timeout is not retried (the next attempt would most likely wait as long), and
neither is a malformed body or any other status: each becomes a GenerationError for that one
request, and the run goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx
from pydantic import ValidationError

from farore.backends.base import GenerationError

DEFAULT_TIMEOUT_S = 600.0
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


def request_answer(call: Callable[[], T], *, model: str, server: str, timeout_s: float, retry: RetryPolicy) -> T:
    """Run ``call`` (one request and the parsing of its answer) under the retry policy.

    ``call`` raises ServerStatus for an error status and ValueError (pydantic's ValidationError and
    json's JSONDecodeError are ValueErrors) for a body it cannot read.
    """
    attempt = 1
    while True:
        try:
            return call()
        except httpx.TimeoutException:
            raise GenerationError(f"{model}: no answer from {server} within {timeout_s:g} s (raise --request-timeout)") from None
        except ValueError as error:
            raise GenerationError(f"{model}: malformed answer from {server}: {_unreadable(error)}") from None
        except (ServerStatus, ConnectionError, httpx.ConnectError) as error:
            if not _transient(error):
                raise GenerationError(f"{model}: {server} refused the request: {error}") from None
            if attempt == retry.attempts:
                what = error if isinstance(error, ServerStatus) else "connection refused"
                raise GenerationError(f"{model}: {server} failed {retry.attempts} times: {what}") from None
            time.sleep(retry.delay(attempt))
            attempt += 1


def _unreadable(error: ValueError) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return f"field {'.'.join(str(p) for p in first['loc'])!r}: {first['msg']}"
    return str(error).strip().splitlines()[0]
