"""Integration on the real embedded model: few cases, short answers."""

import json

import pytest

from farore.backends import GenerationSettings, resolve_backend
from farore.resources import farore_home

pytestmark = pytest.mark.model

CASES = """\
category: stack_corruption
concepts: [stack, PHA/PLA, balance, imbalance]
cases:
  - id: stack-a
    prompt: "Find the bug:\\n```asm\\nPHA\\nJSR Helper\\nRTS\\n```\\nThe game crashes on return."
  - id: stack-b
    prompt: "Why does this freeze?\\n```asm\\nPHP\\nPHA\\nPLA\\nRTS\\n```"
"""


def test_benchmark_runs_end_to_end_on_the_embedded_model(pytester, monkeypatch):
    # pytester gives the run a fresh HOME: point it at this machine's converted checkpoint, and
    # keep the response cache out of it so that the answers are really generated.
    monkeypatch.setenv("FARORE_HOME", str(farore_home()))
    pytester.makepyfile(test_benchmark="from farore.suite import test_case  # noqa: F401")
    pytester.path.joinpath("cases.yaml").write_text(CASES)
    # A subprocess: torch's C extension cannot be imported twice in one process, and an
    # in-process pytester run drops the modules it imported when it ends.
    result = pytester.runpytest_subprocess("--model", "embedded", "--cases", "cases.yaml", "--max-new-tokens", "24", "--report-dir", "out", "--no-cache")
    result.stdout.fnmatch_lines(["farore: model=embedded strategy=enhanced*", "stack_corruption *2 *", "minimum gate: *"])
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    assert report["run"]["backend"] == "embedded"
    assert len(report["run"]["backend_identity"]) == 64
    samples = [s for case in report["cases"] for s in case["samples"]]
    assert len(samples) == 2
    assert all(s["response"] and 0 < s["completion_tokens"] <= 24 and s["latency_s"] > 0 for s in samples)
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)


def test_greedy_generation_repeats_exactly():
    backend = resolve_backend("embedded")
    conversation = [{"role": "user", "content": "What does SEP #$20 do on the 65816?"}]
    settings = GenerationSettings(max_new_tokens=16)
    first, second = (backend.generate([conversation], settings)[0] for _ in range(2))
    assert first.text and first.text == second.text
