"""The response cache: its key, its file, and the runner's use of it (replay, resume, errors)."""

import dataclasses
import json
import multiprocessing
import sqlite3

import pytest

from conftest import FULL
from farore.backends import Generation, GenerationSettings
from farore.backends.scripted import ScriptedBackend
from farore.cache import CacheError, ResponseCache, answer_key
from farore.cases import load_cases
from farore.prompts import load_strategy
from farore.runner import Runner

CASES = """\
category: stack_corruption
concepts: [stack, PHA/PLA]
cases:
  - {id: s-1, prompt: "[s-1] PHA without PLA"}
  - {id: s-2, prompt: "[s-2] PHP then RTS"}
  - {id: s-3, prompt: "[s-3] PLX in the wrong routine"}
"""
ANSWERS = [("[s-1]", "The stack is unbalanced: PHA without PLA.", None), ("[s-2]", "A stack imbalance.", None)]
MESSAGES = [{"role": "user", "content": "Why does PHA crash?"}]


@pytest.fixture
def cases(write_cases):
    return load_cases(write_cases(CASES))


@pytest.fixture
def cache_path(tmp_path):
    return tmp_path / "cache" / "answers.sqlite3"


def runner(backend, cache: ResponseCache | None, **kwargs) -> Runner:
    return Runner(backend, load_strategy("baseline"), cache=cache, show_progress=False, **kwargs)


def test_the_key_covers_identity_messages_every_setting_and_the_sample():
    settings = GenerationSettings()
    key = answer_key("weights-a", MESSAGES, settings, 0)
    assert key == answer_key("weights-a", [dict(m) for m in MESSAGES], GenerationSettings(), 0)
    variants = [
        answer_key("weights-b", MESSAGES, settings, 0),
        answer_key("weights-a", [{"role": "system", "content": "Be brief."}, *MESSAGES], settings, 0),
        answer_key("weights-a", MESSAGES, dataclasses.replace(settings, seed=1), 0),
        answer_key("weights-a", MESSAGES, dataclasses.replace(settings, max_new_tokens=32), 0),
        answer_key("weights-a", MESSAGES, dataclasses.replace(settings, temperature=0.7), 0),
        answer_key("weights-a", MESSAGES, settings, 1),
    ]
    assert len({key, *variants}) == 1 + len(variants)


def test_an_answer_survives_reopening_and_refresh_writes_without_reading(cache_path):
    key = answer_key("w", MESSAGES, GenerationSettings(), 0)
    ResponseCache("w", "m", cache_path).put(key, Generation("first", latency_s=2.0, prompt_tokens=7, completion_tokens=3))
    assert ResponseCache("w", "m", cache_path).get(key) == Generation("first", latency_s=0.0, prompt_tokens=7, completion_tokens=3)
    refreshing = ResponseCache("w", "m", cache_path, refresh=True)
    assert refreshing.get(key) is None
    refreshing.put(key, Generation("second", latency_s=1.0))
    assert ResponseCache("w", "m", cache_path).get(key).text == "second"
    assert len(ResponseCache("w", "m", cache_path)) == 1


def test_a_file_that_is_not_a_cache_is_one_clear_error(cache_path):
    cache_path.parent.mkdir(parents=True)
    cache_path.write_text("not a database, just some text that is long enough to have a header" * 10)
    with pytest.raises(CacheError) as error:
        ResponseCache("w", "m", cache_path)
    assert str(error.value) == (
        f"{cache_path}: cannot use the response cache (file is not a database); delete the file or run with --no-cache"
    )


def _write_answers(path, worker: int, count: int) -> None:
    cache = ResponseCache("w", "m", path)
    for index in range(count):
        cache.put(answer_key("w", MESSAGES, GenerationSettings(), worker * 1000 + index), Generation(f"{worker}-{index}", 0.0))


def test_concurrent_writers_lose_nothing(cache_path):
    ResponseCache("w", "m", cache_path)  # create the table before the race
    workers = [multiprocessing.Process(target=_write_answers, args=(cache_path, w, 40)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    texts = {row[0] for row in sqlite3.connect(cache_path).execute("SELECT text FROM answers")}
    assert texts == {f"{w}-{i}" for w in range(4) for i in range(40)}


def test_a_warm_rerun_replays_every_sample_and_never_reports_a_cached_latency(cases, cache_path):
    cold_backend = ScriptedBackend(rules=ANSWERS, default="No idea.")
    cold = runner(cold_backend, ResponseCache("w", "m", cache_path), samples=3).run(cases)
    assert len(cold_backend.calls) == 9 and len(ResponseCache("w", "m", cache_path)) == 9
    warm_backend = ScriptedBackend(rules=ANSWERS, default="No idea.")
    warm = runner(warm_backend, ResponseCache("w", "m", cache_path), samples=3).run(cases)
    assert warm_backend.calls == []
    replayed = [s for outcome in warm for s in outcome.samples]
    assert [(s.case_id, s.sample, s.seed) for s in replayed] == [(c.id, i, i) for c in cases for i in range(3)]
    assert all(s.cached and s.latency_s is None for s in replayed)
    assert [o.score for o in warm] == [o.score for o in cold]


def test_a_rerun_generates_only_what_errored(cases, cache_path):
    failing = ScriptedBackend(rules=[*ANSWERS, ("[s-3]", None, "server said no")])
    first = runner(failing, ResponseCache("w", "m", cache_path)).run(cases)
    assert [o.errors for o in first] == [(), (), ("server said no",)]
    assert len(ResponseCache("w", "m", cache_path)) == 2
    healthy = ScriptedBackend(rules=[*ANSWERS, ("[s-3]", "PLX pulls from the wrong stack frame.", None)])
    second = runner(healthy, ResponseCache("w", "m", cache_path)).run(cases)
    assert healthy.calls == ["[s-3] PLX in the wrong routine"]
    assert [s.cached for o in second for s in o.samples] == [True, True, False]
    assert not any(o.errors for o in second)


class InterruptedBackend(ScriptedBackend):
    """Answers ``budget`` prompts, then the user presses Ctrl-C."""

    budget: int = 2

    def _answer(self, conversation):
        if len(self.calls) == self.budget:
            raise KeyboardInterrupt
        return super()._answer(conversation)


def test_an_interrupted_run_keeps_what_it_finished_and_the_rerun_continues(cases, cache_path):
    interrupted = InterruptedBackend(rules=ANSWERS, batch_size=1)
    with pytest.raises(KeyboardInterrupt):
        runner(interrupted, ResponseCache("w", "m", cache_path)).run(cases)
    assert len(ResponseCache("w", "m", cache_path)) == 2
    resumed = ScriptedBackend(rules=ANSWERS, batch_size=1)
    outcomes = runner(resumed, ResponseCache("w", "m", cache_path)).run(cases)
    assert len(resumed.calls) == 1 and len(outcomes) == 3


def test_no_cache_and_refresh_through_the_plugin(suite, pytester, isolated_farore_home):
    answers = {f"{c}-{n}": text for c, text in FULL.items() for n in (1, 2)}
    cache_file = isolated_farore_home / "cache" / "answers.sqlite3"
    suite(answers, "--no-cache").stdout.fnmatch_lines(["*cached answers: 0"])
    assert not cache_file.exists()
    suite(answers).stdout.fnmatch_lines(["*cached answers: 0"])
    suite(answers).stdout.fnmatch_lines(["*cached answers: 10"])
    suite(answers, "--refresh").stdout.fnmatch_lines(["*cached answers: 0"])
    suite(answers, "--no-cache").stdout.fnmatch_lines(["*cached answers: 0"])
    suite(answers).stdout.fnmatch_lines(["*cached answers: 10"])
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    assert report["summary"]["cached_answers"] == 10
    assert len(ResponseCache(report["run"]["backend_identity"], "m", cache_file)) == 10
