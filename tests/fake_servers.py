"""Local HTTP servers speaking the documented Ollama and OpenAI chat-completions APIs.

They run on pytest-httpserver (a real socket); the real clients (the ``ollama`` package, httpx)
talk to them, and nothing on the client side is replaced. Faults are added per test with
pytest-httpserver's one-shot handlers, which take precedence over these permanent ones.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

DIGEST = "a80c4f17acd55265feec6f9d2b1e4ff9b6d9e1e0fd5aa1a7c4b4f4a3f7f0e6c2"
#: Ollama reports durations in nanoseconds; 1.25 s for every answer here.
TOTAL_DURATION_NS = 1_250_000_000


def closed_port_url() -> str:
    """The URL of a local port nothing listens on (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _last_user_message(messages: list[dict]) -> str:
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


def _answer_for(prompt: str, answers: dict, default: str):
    return next((text for match, text in answers.items() if match in prompt), default)


class FakeOllama:
    """``/api/tags``, ``/api/show`` and ``/api/chat`` for the models given (name -> digest).

    ``answers`` maps a substring of the last user message to the answer's text, or to a
    werkzeug Response sent as it is (a fault for that prompt).
    """

    def __init__(self, server: HTTPServer, models: dict[str, str], answers: dict[str, str | Response] | None = None, default: str = ""):
        self.server = server
        self.models = models
        self.answers = answers or {}
        self.default = default
        self.chats: list[dict] = []
        server.expect_request("/api/tags", method="GET").respond_with_json({"models": [self._entry(n, d) for n, d in models.items()]})
        server.expect_request("/api/show", method="POST").respond_with_handler(self._show)
        server.expect_request("/api/chat", method="POST").respond_with_handler(self._chat)

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    @staticmethod
    def _entry(name: str, digest: str) -> dict:
        return {
            "name": name,
            "model": name,
            "modified_at": "2026-01-15T12:00:00.000000Z",
            "size": 101_000_000,
            "digest": digest,
            "details": {"format": "gguf", "family": "llama", "parameter_size": "135M", "quantization_level": "Q4_1"},
        }

    def _missing(self, name: str) -> Response | None:
        """Ollama's 404 for a model it does not have (a name without a tag means NAME:latest)."""
        if name in self.models or f"{name}:latest" in self.models:
            return None
        return Response(json.dumps({"error": f"model '{name}' not found"}), status=404, content_type="application/json")

    def _show(self, request: Request) -> Response:
        name = request.get_json()["model"]
        if missing := self._missing(name):
            return missing
        body = {
            "modelfile": f"FROM {name}\n",
            "parameters": "temperature 0",
            "template": "{{ .Prompt }}",
            "details": {"format": "gguf", "family": "llama"},
            "model_info": {"general.architecture": "llama"},
            "capabilities": ["completion"],
            "modified_at": "2026-01-15T12:00:00.000000Z",
        }
        return Response(json.dumps(body), content_type="application/json")

    def _chat(self, request: Request) -> Response:
        body = request.get_json()
        if missing := self._missing(body["model"]):
            return missing
        self.chats.append(body)
        answer = _answer_for(_last_user_message(body["messages"]), self.answers, self.default)
        if isinstance(answer, Response):  # a fault scripted for this prompt
            return answer
        return Response(json.dumps(ollama_chat_body(body["model"], answer)), content_type="application/json")


def ollama_chat_body(model: str, text: str) -> dict:
    """A non-streamed /api/chat answer, as the Ollama API documents it."""
    return {
        "model": model,
        "created_at": "2026-01-15T12:00:01.000000Z",
        "message": {"role": "assistant", "content": text},
        "done": True,
        "done_reason": "stop",
        "total_duration": TOTAL_DURATION_NS,
        "load_duration": 2_000_000,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 300_000_000,
        "eval_count": len(text.split()),
        "eval_duration": 900_000_000,
    }


class FakeOpenAI:
    """``GET /v1/models`` and ``POST /v1/chat/completions``; ``key`` makes both demand it."""

    def __init__(self, server: HTTPServer, models: list[str], answers: dict[str, str] | None = None, key: str | None = None):
        self.server = server
        self.models = models
        self.answers = answers or {}
        self.key = key
        self.completions: list[dict] = []
        self.headers: list[dict] = []
        server.expect_request("/v1/models", method="GET").respond_with_handler(self._guarded(self._list))
        server.expect_request("/v1/chat/completions", method="POST").respond_with_handler(self._guarded(self._complete))

    @property
    def url(self) -> str:
        return self.server.url_for("/v1")

    def _guarded(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def guarded(request: Request) -> Response:
            self.headers.append(dict(request.headers))
            if self.key and request.headers.get("Authorization") != f"Bearer {self.key}":
                body = {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
                return Response(json.dumps(body), status=401, content_type="application/json")
            return handler(request)

        return guarded

    def _list(self, request: Request) -> Response:
        body = {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "local"} for m in self.models]}
        return Response(json.dumps(body), content_type="application/json")

    def _complete(self, request: Request) -> Response:
        body = request.get_json()
        self.completions.append(body)
        text = _answer_for(_last_user_message(body["messages"]), self.answers, "")
        return Response(json.dumps(openai_completion_body(body["model"], text)), content_type="application/json")


def openai_completion_body(model: str, text: str) -> dict:
    """A chat-completions answer in the OpenAI shape."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1768478400,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 31, "completion_tokens": len(text.split()), "total_tokens": 31 + len(text.split())},
    }
