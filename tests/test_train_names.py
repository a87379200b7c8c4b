"""Run names: farore:YYYY-MM-DD-NNNsamples[-tag], validated both ways."""

import datetime as dt

import pytest

from farore.train.names import MAJOR_VERSION_RULE, MajorBump, RunName, RunNameError


@pytest.mark.parametrize(
    "text",
    ["farore:2026-01-15-120samples-diagnosis-first", "farore:2026-01-20-150samples-curated", "farore:2026-02-01-4samples"],
)
def test_the_seed_examples_parse_and_print_back(text):
    assert str(RunName.parse(text)) == text


def test_fields_of_a_name():
    name = RunName.parse("farore:2026-01-15-120samples-diagnosis-first")
    assert (name.date, name.samples, name.tag) == (dt.date(2026, 1, 15), 120, "diagnosis-first")
    assert name.slug == "2026-01-15-120samples-diagnosis-first"


def test_a_new_name_carries_today_and_the_sample_count():
    name = RunName.today(137, "two-stage")
    assert str(name) == f"farore:{dt.date.today().isoformat()}-137samples-two-stage"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("farore:baseline-28samples", "not a run name of the form"),
        ("farore:2026-1-15-120samples", "not a run name of the form"),
        ("farore:2026-01-15-120", "not a run name of the form"),
        ("farore:2026-01-15-0120samples", "not a run name of the form"),
        ("other:2026-01-15-120samples", "not a run name of the form"),
        ("farore:2026-02-30-120samples", "not a calendar date"),
        ("farore:2026-01-15-120samples-Diagnosis", "lowercase letters"),
        ("farore:2026-01-15-120samples-two_stage", "lowercase letters"),
        ("farore:2026-01-15-120samples-a--b", "lowercase letters"),
    ],
)
def test_malformed_names_are_refused_with_the_reason(text, message):
    with pytest.raises(RunNameError, match=message):
        RunName.parse(text)


def test_a_run_needs_samples_and_a_tag_ollama_accepts():
    with pytest.raises(RunNameError, match="at least one training sample"):
        RunName(dt.date(2026, 1, 15), 0)
    with pytest.raises(RunNameError, match="Ollama's 128 characters"):
        RunName(dt.date(2026, 1, 15), 120, "x" * 120)


def test_the_major_version_rule_is_the_seed_and_bumps_are_its_three_reasons():
    assert "architecture change" in MAJOR_VERSION_RULE and "task change" in MAJOR_VERSION_RULE
    assert {m.value for m in MajorBump} == {"architecture-change", "task-change", "capability-shift"}
