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
import httpx
import ollama

from farore.backends.base import BackendError, Generation, GenerationSettings, Message
from farore.backends import DEFAULT_TIMEOUT_S
from farore.backends.served import CONNECT_TIMEOUT_S, RetryPolicy, ServedBackend, ServerStatus

DEFAULT_HOST = "http://127.0.0.1:11434"
_NANOSECONDS = 1e9


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


class OllamaBackend(ServedBackend):
    kind = "ollama"

    def __init__(
        self,
        model: str,
        host: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy = RetryPolicy(),
    ):
        self.model = model.removeprefix("ollama:")
        self.host = host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST
        self.server = f"Ollama at {self.host}"
        self.timeout_s = timeout_s
        self.retry = retry
        self._client = ollama.Client(host=self.host, timeout=httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S))
        self._identity: str | None = None

    def _server_call(self, call):
        """Run one client call, turning the client's error statuses into ServerStatus."""
        try:
            return call()
        except ollama.ResponseError as error:
            raise ServerStatus(error.status_code, error.error) from None

    def _ask_ollama(self, what: str, call, on_status: dict[int, BackendError] | None = None):
        start = "start it with `ollama serve` (or point --ollama-host / OLLAMA_HOST at the server that runs it)"
        return self._ask(what, lambda: self._server_call(call), start, on_status)

    def check(self) -> None:
        listed = {m.model: m.digest for m in self._ask_ollama("the model list", self._client.list).models}
        there = ", ".join(sorted(name for name in listed if name)) or "none"
        not_pulled = BackendError(
            f"model {self.model!r} is not on the Ollama server at {self.host}: pull it with "
            f"`ollama pull {self.model}` or build it with `ollama create {self.model} -f Modelfile`; "
            f"models there: {there}"
        )
        shown = self._ask_ollama("the model description", lambda: self._client.show(self.model), on_status={404: not_pulled})
        digest = listed.get(self.model) or listed.get(f"{self.model}:latest")
        # A name Ollama resolves but does not list (an alias): fingerprint what it describes.
        self._identity = digest or hashlib.sha256(shown.model_dump_json().encode()).hexdigest()

    def identity(self) -> str:
        if self._identity is None:
            self.check()
        return self._identity

    def _answer(self, conversation: list[Message], settings: GenerationSettings) -> Generation:
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
