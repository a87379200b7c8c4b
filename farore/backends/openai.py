"""Models behind an OpenAI-compatible chat-completions server (vLLM, llama.cpp's llama-server,
LM Studio, ...), over httpx.

``--model openai:BASE_URL#MODEL``: BASE_URL is the server's root or its ``/v1`` URL
(``openai:http://127.0.0.1:8000/v1#Qwen2.5-0.5B-Instruct``), MODEL the name the server lists under
``GET /v1/models``. The API key, when the server wants one, comes from ``FARORE_OPENAI_API_KEY``,
else ``OPENAI_API_KEY``. The identity (for the response cache and the report) is URL + model:
such a server does not say which weights it serves.
"""

from __future__ import annotations

import os
import time
import httpx
from pydantic import BaseModel, Field

from farore.backends.base import BackendError, Generation, GenerationSettings, Message
from farore.backends import DEFAULT_TIMEOUT_S
from farore.backends.served import CONNECT_TIMEOUT_S, RetryPolicy, ServedBackend, ServerStatus

KEY_VARIABLES = ("FARORE_OPENAI_API_KEY", "OPENAI_API_KEY")
SPEC_EXAMPLE = "openai:http://127.0.0.1:8000/v1#MODEL"


class _ModelEntry(BaseModel):
    id: str


class _ModelList(BaseModel):
    data: list[_ModelEntry]


class _ChatMessage(BaseModel):
    content: str


class _Choice(BaseModel):
    message: _ChatMessage


class _Usage(BaseModel):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class _Completion(BaseModel):
    choices: list[_Choice] = Field(min_length=1)
    usage: _Usage | None = None


def parse_spec(spec: str) -> tuple[str, str]:
    """``openai:BASE_URL#MODEL`` -> (the server's /v1 URL, MODEL)."""
    base, _, model = spec.removeprefix("openai:").partition("#")
    if not base.startswith(("http://", "https://")) or not model:
        raise BackendError(f"{spec}: write an OpenAI-compatible model as openai:BASE_URL#MODEL, e.g. {SPEC_EXAMPLE}")
    base = base.rstrip("/")
    return (base if base.endswith("/v1") else f"{base}/v1"), model


def api_key() -> str | None:
    return next((os.environ[name] for name in KEY_VARIABLES if os.environ.get(name)), None)


class OpenAIBackend(ServedBackend):
    kind = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy = RetryPolicy(),
    ):
        self.base_url = base_url
        self.model = model
        self.server = f"the OpenAI-compatible server at {base_url}"
        self.timeout_s = timeout_s
        self.retry = retry
        key = api_key()
        self._client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S),
            headers={"Authorization": f"Bearer {key}"} if key else {},
        )

    @classmethod
    def from_spec(cls, spec: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> OpenAIBackend:
        base_url, model = parse_spec(spec)
        return cls(base_url, model, timeout_s=timeout_s)

    def _json(self, method: str, path: str, **kwargs) -> dict:
        response = self._client.request(method, path, **kwargs)
        if response.is_error:
            raise ServerStatus(response.status_code, response.text.strip()[:200])
        return response.json()

    def check(self) -> None:
        refused = BackendError(
            f"{self.server} refused the API key: set {KEY_VARIABLES[0]} or {KEY_VARIABLES[1]} to a key it accepts"
        )
        listed = self._ask(
            "the model list (GET /v1/models)",
            lambda: _ModelList.model_validate(self._json("GET", "/models")),
            f"start the server (vllm serve, llama-server, LM Studio, ...) or correct BASE_URL in {SPEC_EXAMPLE}",
            on_status={401: refused, 403: refused},
        )
        names = [entry.id for entry in listed.data]
        if self.model not in names:
            there = ", ".join(sorted(names)) or "none"
            raise BackendError(f"model {self.model!r} is not served by {self.server}; models there: {there}")

    def identity(self) -> str:
        return f"{self.base_url}#{self.model}"

    def _answer(self, conversation: list[Message], settings: GenerationSettings) -> Generation:
        started = time.perf_counter()
        body = {
            "model": self.model,
            "messages": conversation,
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "seed": settings.seed,
            "stream": False,
        }
        completion = _Completion.model_validate(self._json("POST", "/chat/completions", json=body))
        usage = completion.usage or _Usage()
        return Generation(
            text=completion.choices[0].message.content.strip(),
            latency_s=time.perf_counter() - started,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )
