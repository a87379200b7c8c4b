"""Answering many prompts at once: batched generation on the local model gives the answers
one-at-a-time generation gives, and --concurrency keeps N requests to a served model in flight."""

import json
import threading
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from fake_servers import ollama_chat_body
from farore.backends import GenerationSettings, resolve_backend
from farore.backends.ollama import OllamaBackend
from farore.backends.scripted import ScriptedBackend
from farore.cases import load_cases
from farore.prompts import load_strategy
from farore.resources import default_cases_dir
from farore.runner import Runner

PROMPTS = [
    "What does SEP #$20 do?",
    "Find the bug:\nREP #$20\nLDA $10\nSTA $2100\nThe screen goes black.",
    "Why must every PHA be matched by a PLA before RTS on the 65816?",
]


@pytest.mark.model
def test_greedy_batched_answers_equal_one_at_a_time_answers_on_the_embedded_model():
    backend = resolve_backend("embedded", batch_size=len(PROMPTS))
    conversations = [[{"role": "user", "content": prompt}] for prompt in PROMPTS]
    settings = GenerationSettings(max_new_tokens=24)
    batched = backend.generate(conversations, settings)
    one_at_a_time = [backend.generate([conversation], settings)[0] for conversation in conversations]
    assert all(answer.text for answer in batched)
    assert [a.text for a in batched] == [a.text for a in one_at_a_time]
    assert [a.completion_tokens for a in batched] == [a.completion_tokens for a in one_at_a_time]


class SlowOllama:
    """A threaded Ollama /api/chat that takes 0.2 s per answer and records the peak load."""

    def __init__(self):
        self.server = HTTPServer(threaded=True)
        self.in_flight = self.peak = 0
        self._lock = threading.Lock()
        self.server.expect_request("/api/chat", method="POST").respond_with_handler(self._chat)
        self.server.start()

    def _chat(self, request: Request) -> Response:
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        time.sleep(0.2)
        with self._lock:
            self.in_flight -= 1
        prompt = request.get_json()["messages"][-1]["content"]
        return Response(json.dumps(ollama_chat_body("farore:test", f"answer to {prompt}")), content_type="application/json")


@pytest.fixture
def slow_ollama():
    served = SlowOllama()
    yield served
    served.server.stop()


@pytest.mark.parametrize("concurrency", [1, 4])
def test_concurrency_keeps_that_many_requests_in_flight_and_keeps_the_order(slow_ollama, write_cases, concurrency):
    cases = load_cases(
        write_cases(
            "category: dma_errors\nconcepts: [count]\ncases:\n"
            + "".join(f"  - {{id: d-{n}, prompt: 'DMA question {n}'}}\n" for n in range(8))
        )
    )
    backend = OllamaBackend("farore:test", host=slow_ollama.server.url_for("").rstrip("/"))
    outcomes = Runner(backend, load_strategy("none"), concurrency=concurrency, show_progress=False).run(cases)
    assert slow_ollama.peak == concurrency
    assert [o.case_id for o in outcomes] == [c.id for c in cases]
    assert [o.samples[0].response for o in outcomes] == [f"answer to DMA question {n}" for n in range(8)]


class BatchRecorder(ScriptedBackend):
    """Answers every prompt with the default text and records the size of each batch."""

    def __init__(self, batch_size: int):
        super().__init__(rules=[], default="**Bug: stack imbalance**", batch_size=batch_size)
        self.batch_sizes: list[int] = []

    def generate(self, conversations, settings):
        self.batch_sizes.append(len(conversations))
        return super().generate(conversations, settings)


@pytest.mark.parametrize(("batch_size", "expected"), [(16, [12, 13, 13, 12]), (8, [7, 7, 7, 8, 7, 7, 7]), (64, [50])])
def test_the_fifty_builtin_cases_go_in_batches_as_even_as_the_batch_size_allows(batch_size, expected):
    backend = BatchRecorder(batch_size)
    cases = load_cases(default_cases_dir())
    outcomes = Runner(backend, load_strategy("none"), show_progress=False).run(cases)

    assert len(outcomes) == 50
    assert backend.batch_sizes == expected
