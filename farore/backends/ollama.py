"""Models served by Ollama, through the official ``ollama`` client.

``--model NAME:TAG`` or ``ollama:NAME``; the host comes from ``--ollama-host``, else
``OLLAMA_HOST``, else http://127.0.0.1:11434. ``check`` asks the server about the model once
before the first case, so a server that is down or a model that was never pulled is one error
that says what to do, not one failed case per prompt. The model's identity (for the response
cache and the report) is its digest from ``/api/tags``.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence

from farore.backends.base import BackendError, Generation, GenerationSettings, Message
from farore.backends.served import DEFAULT_TIMEOUT_S, RetryPolicy, ServerStatus, request_answer

DEFAULT_HOST = "http://127.0.0.1:11434"
INSTALL_OLLAMA = 'pip install -e ".[ollama]"'
_NANOSECONDS = 1e9


def _client_module():
    try:
        import ollama
    except ImportError:
        raise BackendError(f"Ollama models need the ollama client: {INSTALL_OLLAMA}") from None
    return ollama


def ollama_options(settings: GenerationSettings) -> dict[str, float | int]:
    """The generation settings under Ollama's option names."""
    options: dict[str, float | int] = {
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "seed": settings.seed,
        "num_predict": settings.max_new_tokens,
    }
    if settings.num_ctx is not None:
        options["num_ctx"] = settings.num_ctx
    return options


class OllamaBackend:
    kind = "ollama"
    batch_size = 1  # one request at a time; the runner's --concurrency keeps several in flight

    def __init__(
        self,
        model: str,
        host: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy = RetryPolicy(),
    ):
        self.model = model.removeprefix("ollama:")
        self.host = host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST
        self.timeout_s = timeout_s
        self.retry = retry
        self._ollama = _client_module()
        self._client = self._ollama.Client(host=self.host, timeout=timeout_s)
        self._identity: str | None = None

    def _server_call(self, call):
        """Run one client call, turning the client's error statuses into ServerStatus."""
        try:
            return call()
        except self._ollama.ResponseError as error:
            raise ServerStatus(error.status_code, error.error) from None

    def _unreachable(self) -> BackendError:
        return BackendError(
            f"cannot reach Ollama at {self.host}: start it with `ollama serve` "
            "(or point --ollama-host / OLLAMA_HOST at the server that runs it)"
        )

    def _not_pulled(self) -> BackendError:
        names = sorted(m.model for m in self._server_call(self._client.list).models if m.model)
        there = ", ".join(names) or "none"
        return BackendError(
            f"model {self.model!r} is not on the Ollama server at {self.host}: pull it with "
            f"`ollama pull {self.model}` or build it with `ollama create {self.model} -f Modelfile`; "
            f"models there: {there}"
        )

    def check(self) -> None:
        try:
            shown = self._server_call(lambda: self._client.show(self.model))
            listed = {m.model: m.digest for m in self._server_call(self._client.list).models}
        except ServerStatus as error:
            if error.status == 404:
                raise self._not_pulled() from None
            raise BackendError(f"Ollama at {self.host} refused to describe {self.model!r}: {error}") from None
        except ConnectionError:
            raise self._unreachable() from None
        except ValueError as error:
            raise BackendError(f"Ollama at {self.host} sent an unreadable model description: {error}") from None
        digest = listed.get(self.model) or listed.get(f"{self.model}:latest")
        # A name Ollama resolves but does not list (an alias): fingerprint what it describes.
        self._identity = digest or hashlib.sha256(shown.model_dump_json().encode()).hexdigest()

    def identity(self) -> str:
        if self._identity is None:
            self.check()
        return self._identity or ""

    def _chat(self, conversation: list[Message], settings: GenerationSettings) -> Generation:
        started = time.perf_counter()
        response = self._server_call(
            lambda: self._client.chat(model=self.model, messages=conversation, options=ollama_options(settings), stream=False)
        )
        if response.message.content is None:
            raise ValueError("the message has no content")
        elapsed = time.perf_counter() - started
        return Generation(
            text=response.message.content.strip(),
            latency_s=response.total_duration / _NANOSECONDS if response.total_duration else elapsed,
            prompt_tokens=response.prompt_eval_count,
            completion_tokens=response.eval_count,
        )

    def generate(self, conversations: Sequence[list[Message]], settings: GenerationSettings) -> list[Generation]:
        return [
            request_answer(
                lambda: self._chat(conversation, settings),
                model=self.model,
                server=f"Ollama at {self.host}",
                timeout_s=self.timeout_s,
                retry=self.retry,
            )
            for conversation in conversations
        ]
