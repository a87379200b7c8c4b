"""The OpenAI-compatible backend over real HTTP: httpx against a local server answering
``GET /v1/models`` and ``POST /v1/chat/completions`` in the OpenAI shape (fake_servers.FakeOpenAI)."""

import json
import time

import pytest
from werkzeug import Response

from conftest import FULL, write_benchmark
from fake_servers import FakeOpenAI, closed_port_url, openai_completion_body
from farore.backends import BackendError, GenerationError, GenerationSettings, resolve_backend
from farore.backends.openai import OpenAIBackend, parse_spec
from farore.backends.served import RetryPolicy

QUICK_RETRY = RetryPolicy(attempts=3, backoff_s=0.01)
CONVERSATION = [{"role": "system", "content": "You debug 65816 code."}, {"role": "user", "content": "[q] Why does PHA crash?"}]


@pytest.fixture(autouse=True)
def no_key_from_the_environment(monkeypatch):
    for name in ("FARORE_OPENAI_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server(httpserver):
    return FakeOpenAI(httpserver, ["qwen2.5-0.5b", "smollm2-135m"], answers={"[q]": "The stack is unbalanced."})


def backend(server: FakeOpenAI, model: str = "qwen2.5-0.5b", **kwargs) -> OpenAIBackend:
    return OpenAIBackend(server.url, model, retry=QUICK_RETRY, **kwargs)


def test_the_spec_names_the_server_root_or_its_v1_url_and_the_model():
    assert parse_spec("openai:http://127.0.0.1:8000#qwen") == ("http://127.0.0.1:8000/v1", "qwen")
    assert parse_spec("openai:http://127.0.0.1:8000/v1/#org/model-7b") == ("http://127.0.0.1:8000/v1", "org/model-7b")
    served = resolve_backend("openai:https://llm.example/v1#m", timeout_s=5)
    assert (served.kind, served.model, served.identity(), served.timeout_s) == ("openai", "m", "https://llm.example/v1#m", 5)
    with pytest.raises(BackendError) as error:
        resolve_backend("openai:http://127.0.0.1:8000/v1")
    assert str(error.value) == (
        "openai:http://127.0.0.1:8000/v1: write an OpenAI-compatible model as openai:BASE_URL#MODEL, "
        "e.g. openai:http://127.0.0.1:8000/v1#MODEL"
    )


def test_check_accepts_a_served_model(server):
    backend(server).check()
    assert [h.get("Authorization") for h in server.headers] == [None]


def test_server_down_is_one_error_naming_the_url():
    url = closed_port_url() + "/v1"
    with pytest.raises(BackendError) as error:
        OpenAIBackend(url, "qwen").check()
    assert str(error.value) == (
        f"cannot reach the OpenAI-compatible server at {url}: start the server (vllm serve, llama-server, LM Studio, ...) "
        "or correct BASE_URL in openai:http://127.0.0.1:8000/v1#MODEL"
    )


def test_a_model_that_is_not_served_lists_the_models_there(server):
    with pytest.raises(BackendError) as error:
        backend(server, "llama-3-8b").check()
    assert str(error.value) == (
        f"model 'llama-3-8b' is not served by the OpenAI-compatible server at {server.url}; models there: qwen2.5-0.5b, smollm2-135m"
    )


def test_the_key_comes_from_the_environment_and_a_refused_key_says_where_to_set_it(httpserver, monkeypatch):
    server = FakeOpenAI(httpserver, ["qwen"], key="sk-right")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    with pytest.raises(BackendError) as error:
        backend(server, "qwen").check()
    assert str(error.value) == (
        f"the OpenAI-compatible server at {server.url} refused the API key: "
        "set FARORE_OPENAI_API_KEY or OPENAI_API_KEY to a key it accepts"
    )
    monkeypatch.setenv("FARORE_OPENAI_API_KEY", "sk-right")  # farore's own variable wins
    backend(server, "qwen").check()
    assert server.headers[-1]["Authorization"] == "Bearer sk-right"


def test_a_completion_sends_the_conversation_and_settings_and_reads_usage(server):
    settings = GenerationSettings(max_new_tokens=64, temperature=0.7, top_p=0.9, seed=42)
    [answer] = backend(server).generate([CONVERSATION], settings)
    assert answer.text == "The stack is unbalanced."
    assert (answer.prompt_tokens, answer.completion_tokens) == (31, 4)
    assert answer.latency_s > 0
    assert server.completions == [
        {
            "model": "qwen2.5-0.5b",
            "messages": CONVERSATION,
            "max_tokens": 64,
            "temperature": 0.7,
            "top_p": 0.9,
            "seed": 42,
            "stream": False,
        }
    ]


def test_a_500_is_retried_and_then_the_answer_arrives(server, httpserver):
    httpserver.expect_oneshot_request("/v1/chat/completions").respond_with_json({"error": {"message": "overloaded"}}, status=503)
    [answer] = backend(server).generate([CONVERSATION], GenerationSettings())
    assert answer.text == "The stack is unbalanced."
    assert len(server.completions) == 1 and len(httpserver.log) == 2


def test_a_500_every_time_errors_after_the_retries(server, httpserver):
    for _ in range(QUICK_RETRY.attempts):
        httpserver.expect_oneshot_request("/v1/chat/completions").respond_with_data("Internal Server Error", status=500)
    with pytest.raises(GenerationError) as error:
        backend(server).generate([CONVERSATION], GenerationSettings())
    assert str(error.value) == (
        f"qwen2.5-0.5b: the OpenAI-compatible server at {server.url} failed 3 times: status 500: Internal Server Error"
    )


def test_a_timeout_is_a_generation_error_for_that_request(server, httpserver):
    def slow(request):
        time.sleep(0.6)
        return Response(json.dumps(openai_completion_body("qwen2.5-0.5b", "late")), content_type="application/json")

    httpserver.expect_oneshot_request("/v1/chat/completions").respond_with_handler(slow)
    with pytest.raises(GenerationError) as error:
        backend(server, timeout_s=0.2).generate([CONVERSATION], GenerationSettings())
    assert str(error.value) == (
        f"qwen2.5-0.5b: no answer from the OpenAI-compatible server at {server.url} within 0.2 s (raise --request-timeout)"
    )


def test_a_malformed_body_is_a_generation_error_for_that_request(server, httpserver):
    httpserver.expect_oneshot_request("/v1/chat/completions").respond_with_json({"choices": []})
    with pytest.raises(GenerationError) as error:
        backend(server).generate([CONVERSATION], GenerationSettings())
    assert str(error.value) == (
        f"qwen2.5-0.5b: malformed answer from the OpenAI-compatible server at {server.url}: "
        "field 'choices': List should have at least 1 item after validation, not 0"
    )


@pytest.mark.usefixtures("isolated_farore_home")
def test_the_benchmark_runs_against_an_openai_compatible_server(pytester, httpserver):
    answers = {f"[{category}-{n}]": text for category, text in FULL.items() for n in (1, 2)}
    server = FakeOpenAI(httpserver, ["smollm2"], answers=answers)
    write_benchmark(pytester)
    result = pytester.runpytest("--model", f"openai:{server.url}#smollm2", "--cases", "cases", "--report-dir", "out", "--concurrency", "3")
    result.assert_outcomes(passed=10)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["overall *10 *10 *100.0%*PASS", "minimum gate: PASS"])
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    assert (report["run"]["backend"], report["run"]["backend_identity"]) == ("openai", f"{server.url}#smollm2")
    assert len(server.completions) == 10
