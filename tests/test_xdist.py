"""The benchmark under pytest-xdist (``-n 2``), through pytester: the workers answer, the
controller computes the gate and writes the report once; a preflight error is one message."""

import json

import pytest

from conftest import FULL
from fake_servers import closed_port_url

ALL_GOOD = {f"{c}-{n}": text for c, text in FULL.items() for n in (1, 2)}


def test_two_workers_answer_and_the_controller_gates_and_reports_once(suite, pytester):
    answers = {**ALL_GOOD, "dma_errors-2": "The DMA is wrong."}
    result = suite(answers, "-n", "2")
    result.assert_outcomes(passed=9, failed=1)
    assert result.ret == 0
    output = result.stdout.str()
    assert "2 workers [10 items]" in output
    assert output.count("farore: model=scripted:script.yaml") == 1
    result.stdout.fnmatch_lines(["dma_errors *2 *1 *50.0%*FAIL (< 60%)", "overall *10 *9 *90.0%*PASS", "minimum gate: PASS"])
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    assert sorted(c["case_id"] for c in report["cases"]) == sorted(ALL_GOOD)
    assert (report["run"]["backend"], len(report["run"]["backend_identity"])) == ("scripted", 64)
    assert report["summary"]["gate"]["passed"] is True


def test_the_gate_fails_the_run_under_xdist_too(suite):
    answers = {**ALL_GOOD, **{f"{c}-{n}": "nothing" for c in ("dma_errors", "stack_corruption") for n in (1, 2)}}
    result = suite(answers, "-n", "2")
    result.assert_outcomes(passed=6, failed=4)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["minimum gate: FAIL: 3/5 categories >= 60% (need 4); overall 60.0% < 70%"])


def test_workers_share_the_cache_and_a_warm_rerun_replays_every_answer(suite, pytester):
    suite(ALL_GOOD, "-n", "2").assert_outcomes(passed=10)
    rerun = suite(ALL_GOOD, "-n", "2")
    rerun.assert_outcomes(passed=10)
    rerun.stdout.fnmatch_lines(["errored cases: 0; anti-keyword hits: 0; cached answers: 10"])
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    assert all(s["cached"] and s["latency_s"] is None for c in report["cases"] for s in c["samples"])


def test_a_server_that_is_down_is_one_message_under_xdist(suite, pytester):
    host = closed_port_url()
    result = suite(ALL_GOOD, "-n", "2", "--model", "farore:test", "--ollama-host", host)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str()
    message = f"farore: cannot reach Ollama at {host}: start it with `ollama serve`"
    assert output.count(message) == 1, output
    assert "INTERNALERROR" not in output and "failed" not in output and "passed" not in output
    assert not (pytester.path / "out").exists()
