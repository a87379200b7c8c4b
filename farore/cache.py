"""The response cache: an answer, once generated, is kept on disk and replayed by later runs.

An answer's key is a sha256 over the backend's identity (the served weights: an Ollama digest,
checkpoint and adapter file hashes, URL + model for an OpenAI-compatible server), the full
conversation (system prompt included), every generation setting (seed included) and the sample
index; change any of them and the answer is generated anew.

The store is one SQLite file, ``$FARORE_HOME/cache/answers.sqlite3``: each answer is committed
the moment it arrives, so an interrupted run loses nothing and the next run generates only
what is still missing; SQLite's locking keeps concurrent writers (pytest-xdist workers) safe.
Errored answers are never stored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import time
from pathlib import Path

from farore.backends.base import Generation, GenerationSettings, Message
from farore.resources import farore_home

KEY_VERSION = 1  # bump when the key's recipe changes, so old entries are never misread
BUSY_TIMEOUT_S = 60.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    created TEXT NOT NULL
)
"""


class CacheError(RuntimeError):
    """The cache file cannot be used; the message names it and the way out."""


def default_cache_path() -> Path:
    return farore_home() / "cache" / "answers.sqlite3"


def answer_key(identity: str, messages: list[Message], settings: GenerationSettings, sample: int) -> str:
    payload = {
        "version": KEY_VERSION,
        "identity": identity,
        "messages": messages,
        "settings": dataclasses.asdict(settings),
        "sample": sample,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class ResponseCache:
    """Answers of one backend (one identity); ``refresh`` writes without reading."""

    def __init__(self, identity: str, model: str, path: Path | None = None, refresh: bool = False):
        self.identity = identity
        self.model = model
        self.path = path or default_cache_path()
        self.refresh = refresh
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit: every INSERT is its own transaction, on disk when it returns.
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise CacheError(f"{self.path}: cannot use the response cache ({error}); delete the file or run with --no-cache") from None

    def key(self, messages: list[Message], settings: GenerationSettings, sample: int) -> str:
        return answer_key(self.identity, messages, settings, sample)

    def get(self, key: str) -> Generation | None:
        if self.refresh:
            return None
        row = self._db.execute("SELECT text, prompt_tokens, completion_tokens FROM answers WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        text, prompt_tokens, completion_tokens = row
        return Generation(text, latency_s=0.0, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    def put(self, key: str, generation: Generation) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                self.identity,
                self.model,
                generation.text,
                generation.prompt_tokens,
                generation.completion_tokens,
                time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            ),
        )

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM answers WHERE identity = ?", (self.identity,)).fetchone()[0]
