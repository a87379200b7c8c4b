"""The benchmark run through pytest itself (pytester), with the scripted backend."""

import json

import pytest

from conftest import FULL

def test_gate_passes_with_a_failed_case_when_four_categories_and_overall_hold(suite, pytester):
    answers = {f"{c}-{n}": text for c, text in FULL.items() for n in (1, 2)}
    answers["dma_errors-2"] = "The DMA is wrong."  # one failed case, dma category at 50%
    result = suite(answers)
    result.assert_outcomes(passed=9, failed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["dma_errors *2 *1 *50.0%*FAIL (< 60%)", "overall *10 *9 *90.0%*PASS", "minimum gate: PASS"])
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    assert report["summary"]["gate"]["passed"] is True
    assert report["legacy"]["farore"]["tests"] == 10 and report["legacy"]["farore"]["passed"] == 9


def test_gate_fails_when_two_categories_fall_short_even_if_most_cases_pass(suite):
    answers = {f"{c}-{n}": text for c, text in FULL.items() for n in (1, 2)}
    for n in (1, 2):
        answers[f"dma_errors-{n}"] = "nothing"
        answers[f"stack_corruption-{n}"] = "nothing"
    result = suite(answers)
    result.assert_outcomes(passed=6, failed=4)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["minimum gate: FAIL: 3/5 categories >= 60% (need 4); overall 60.0% < 70%"])


def test_failed_case_message_lists_missing_concepts_and_anti_keywords(suite):
    result = suite({"stack_corruption-1": "I'm not sure, maybe the stack?"}, "-k", "stack_corruption-1")
    result.stdout.fnmatch_lines(
        [
            "*stack_corruption-1: score 25% (threshold 60%)",
            "missing concepts: PHA/PLA, balance, imbalance",
            "anti-keywords found: not sure",
        ]
    )
    assert result.ret == 1


def test_unknown_model_is_one_clear_error(suite, pytester):
    pytester.makepyfile(test_benchmark="from farore.suite import test_case  # noqa: F401")
    result = pytester.runpytest("--model", "nonsense", "--cases", "cases")
    result.stdout.fnmatch_lines(["*farore: unknown model 'nonsense': use 'embedded'*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "failed" not in result.stdout.str()


def test_bad_case_file_is_a_usage_error_naming_file_case_and_field(suite, pytester):
    pytester.path.joinpath("cases", "dma_errors.yaml").write_text(
        "category: dma_errors\nconcepts: [count]\ncases:\n  - id: d-1\n    prompt: 3\n"
    )
    result = pytester.runpytest("--model", "scripted:script.yaml", "--cases", "cases")
    result.stderr.fnmatch_lines(["ERROR: farore: cases/dma_errors.yaml: case 'd-1': field 'prompt': Input should be a valid string*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_unknown_prompt_strategy_names_the_known_ones(suite, pytester):
    pytester.path.joinpath("script.yaml").write_text("default: ''\n")
    result = pytester.runpytest("--model", "scripted:script.yaml", "--cases", "cases", "--prompt-strategy", "fancy")
    result.stdout.fnmatch_lines(["*unknown prompt strategy 'fancy'; known: baseline, enhanced, none*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
