"""The Ollama backend over real HTTP: the official client against a local server speaking the
documented Ollama API (fake_servers.FakeOllama); faults as one-shot handlers."""

import json
import time

import pytest
from werkzeug import Response

from conftest import FULL, write_benchmark
from fake_servers import DIGEST, TOTAL_DURATION_NS, FakeOllama, closed_port_url, ollama_chat_body
from farore.backends import BackendError, GenerationError, GenerationSettings, resolve_backend
from farore.backends.ollama import OllamaBackend
from farore.backends.served import RetryPolicy

QUICK_RETRY = RetryPolicy(attempts=3, backoff_s=0.01)
CONVERSATION = [{"role": "system", "content": "You debug 65816 code."}, {"role": "user", "content": "[q] Why does PHA crash?"}]


@pytest.fixture
def ollama(httpserver):
    return FakeOllama(httpserver, {"farore:test": DIGEST, "llama3.2:latest": "1" * 64}, answers={"[q]": "The stack is unbalanced."})


def backend(ollama: FakeOllama, model: str = "farore:test", **kwargs) -> OllamaBackend:
    return OllamaBackend(model, host=ollama.url, retry=QUICK_RETRY, **kwargs)


def test_model_forms_resolve_to_the_ollama_backend(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "http://ollama.example:11434")
    tagged, prefixed = resolve_backend("farore:2026-01-15-120samples"), resolve_backend("ollama:farore")
    assert (tagged.kind, tagged.model, tagged.host) == ("ollama", "farore:2026-01-15-120samples", "http://ollama.example:11434")
    assert (prefixed.model, resolve_backend("ollama:x", ollama_host="http://h:1").host) == ("farore", "http://h:1")
    monkeypatch.delenv("OLLAMA_HOST")
    assert resolve_backend("farore:test").host == "http://127.0.0.1:11434"


def test_check_accepts_a_pulled_model_and_its_digest_is_the_identity(ollama):
    served = backend(ollama)
    served.check()
    assert served.identity() == DIGEST
    assert backend(ollama, "ollama:llama3.2").identity() == "1" * 64  # NAME means NAME:latest


def test_server_down_is_one_error_naming_the_host_and_how_to_start_ollama():
    host = closed_port_url()
    with pytest.raises(BackendError) as error:
        OllamaBackend("farore:test", host=host).check()
    assert str(error.value) == (
        f"cannot reach Ollama at {host}: start it with `ollama serve` "
        "(or point --ollama-host / OLLAMA_HOST at the server that runs it)"
    )


def test_missing_model_names_the_pull_and_create_commands_and_lists_the_models_there(ollama):
    with pytest.raises(BackendError) as error:
        backend(ollama, "farore:nope").check()
    assert str(error.value) == (
        f"model 'farore:nope' is not on the Ollama server at {ollama.url}: pull it with `ollama pull farore:nope` "
        "or build it with `ollama create farore:nope -f Modelfile`; models there: farore:test, llama3.2:latest"
    )


def test_chat_sends_the_system_prompt_and_the_options_and_reads_ollama_timings(ollama):
    settings = GenerationSettings(max_new_tokens=64, temperature=0.7, top_p=0.9, seed=42, num_ctx=4096)
    [answer] = backend(ollama).generate([CONVERSATION], settings)
    assert answer.text == "The stack is unbalanced."
    assert answer.latency_s == TOTAL_DURATION_NS / 1e9
    assert (answer.prompt_tokens, answer.completion_tokens) == (26, 4)
    [sent] = ollama.chats
    assert sent["messages"] == CONVERSATION
    assert sent["options"] == {"temperature": 0.7, "top_p": 0.9, "seed": 42, "num_predict": 64, "num_ctx": 4096}
    assert sent["stream"] is False


def test_a_500_is_retried_and_then_the_answer_arrives(ollama, httpserver):
    httpserver.expect_oneshot_request("/api/chat").respond_with_json({"error": "llama runner process has terminated"}, status=500)
    [answer] = backend(ollama).generate([CONVERSATION], GenerationSettings())
    assert answer.text == "The stack is unbalanced."
    assert [request.path for request, _ in httpserver.log] == ["/api/chat", "/api/chat"]


def test_a_500_every_time_errors_after_the_retries(ollama, httpserver):
    for _ in range(QUICK_RETRY.attempts):
        httpserver.expect_oneshot_request("/api/chat").respond_with_json({"error": "llama runner process has terminated"}, status=500)
    with pytest.raises(GenerationError) as error:
        backend(ollama).generate([CONVERSATION], GenerationSettings())
    assert str(error.value) == f"farore:test: Ollama at {ollama.url} failed 3 times: status 500: llama runner process has terminated"
    assert ollama.chats == []


def test_a_timeout_is_a_generation_error_for_that_request(ollama, httpserver):
    def slow(request):
        time.sleep(0.6)
        return Response(json.dumps(ollama_chat_body("farore:test", "late")), content_type="application/json")

    httpserver.expect_oneshot_request("/api/chat").respond_with_handler(slow)
    with pytest.raises(GenerationError) as error:
        backend(ollama, timeout_s=0.2).generate([CONVERSATION], GenerationSettings())
    assert str(error.value) == f"farore:test: no answer from Ollama at {ollama.url} within 0.2 s (raise --request-timeout)"


def test_a_malformed_body_is_a_generation_error_for_that_request(ollama, httpserver):
    httpserver.expect_oneshot_request("/api/chat").respond_with_data("<html>proxy error</html>", content_type="text/html")
    httpserver.expect_oneshot_request("/api/chat").respond_with_json({"model": "farore:test", "done": True})
    served = backend(ollama)
    with pytest.raises(GenerationError) as not_json:
        served.generate([CONVERSATION], GenerationSettings())
    with pytest.raises(GenerationError) as no_message:
        served.generate([CONVERSATION], GenerationSettings())
    assert str(not_json.value) == f"farore:test: malformed answer from Ollama at {ollama.url}: Expecting value: line 1 column 1 (char 0)"
    assert str(no_message.value) == f"farore:test: malformed answer from Ollama at {ollama.url}: field 'message': Field required"


def test_a_model_removed_mid_run_is_a_generation_error_with_ollamas_message(ollama):
    served = backend(ollama)
    served.check()
    del ollama.models["farore:test"]
    with pytest.raises(GenerationError) as error:
        served.generate([CONVERSATION], GenerationSettings())
    assert str(error.value) == f"farore:test: Ollama at {ollama.url} refused the request: status 404: model 'farore:test' not found"


def _answers() -> dict[str, str]:
    return {f"[{category}-{n}]": text for category, text in FULL.items() for n in (1, 2)}


@pytest.mark.usefixtures("isolated_farore_home")
def test_the_users_command_runs_the_benchmark_against_ollama(pytester, httpserver, monkeypatch):
    """`pytest benchmarks/ --model farore:test`, Ollama found through OLLAMA_HOST; one answer
    arrives malformed: that case errors, the others are scored, the gate still holds."""
    answers = _answers()
    answers["[dma_errors-2]"] = Response("{", content_type="application/json")
    ollama = FakeOllama(httpserver, {"farore:test": DIGEST}, answers=answers)
    monkeypatch.setenv("OLLAMA_HOST", ollama.url)
    write_benchmark(pytester)
    command = ["--model", "farore:test", "--cases", "cases", "--report-dir", "out", "--prompt-strategy", "none"]

    result = pytester.runpytest(*command)
    result.assert_outcomes(passed=9, failed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "*dma_errors-2: backend error: farore:test: malformed answer from Ollama at * Expecting property name*",
        "farore: model=farore:test strategy=none scoring=whole-term samples=1",
        "dma_errors *2 *1 (1 errored) *50.0%*FAIL (< 60%)",
        "overall *10 *9 *90.0%*PASS",
        "minimum gate: PASS",
        "errored cases: 1; anti-keyword hits: 0; cached answers: 0",
    ])
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    assert (report["run"]["backend"], report["run"]["backend_identity"]) == ("ollama", DIGEST)
    samples = {case["case_id"]: case["samples"][0] for case in report["cases"]}
    assert samples["dma_errors-2"]["error"].startswith("farore:test: malformed answer from Ollama at")
    assert samples["stack_corruption-1"]["latency_s"] == TOTAL_DURATION_NS / 1e9
    assert "error: farore:test: malformed answer" in (pytester.path / "out" / "report.md").read_text()

    ollama.answers["[dma_errors-2]"] = FULL["dma_errors"]
    rerun = pytester.runpytest(*command)  # warm: nine answers replayed, the errored one asked again
    rerun.assert_outcomes(passed=10)
    rerun.stdout.fnmatch_lines(["errored cases: 0; anti-keyword hits: 0; cached answers: 9"])
    assert len(ollama.chats) == 10 + 1
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    replayed = [case["samples"][0] for case in report["cases"] if case["case_id"] != "dma_errors-2"]
    assert all(s["cached"] and s["latency_s"] is None for s in replayed)


def test_a_server_that_is_down_is_one_usage_error_not_a_failure_per_case(pytester):
    write_benchmark(pytester)
    host = closed_port_url()
    result = pytester.runpytest("--model", "farore:test", "--ollama-host", host, "--cases", "cases")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines([f"*farore: cannot reach Ollama at {host}: start it with `ollama serve`*"])
    assert "failed" not in result.stdout.str() and "passed" not in result.stdout.str()
