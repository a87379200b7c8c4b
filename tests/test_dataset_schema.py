import json

import pytest
from dataset_samples import DATA, GOOD, USER, record, write_lines

from farore.dataset.schema import DatasetError, Finding, dialogue_record, load_dataset, write_jsonl


def test_a_valid_line_loads_with_its_metadata_and_an_optional_system_message(tmp_path):
    system = {"role": "system", "content": "You are Farore."}
    line = record(id="mm-001", category="mode_mismatch", source="curated")
    line["messages"].insert(0, system)
    dataset = load_dataset(write_lines(tmp_path / "a.jsonl", [line]))
    assert dataset.passed and dataset.lines == 1
    (dialogue,) = dataset.dialogues
    assert (dialogue.id, dialogue.category, dialogue.source, dialogue.line) == ("mm-001", "mode_mismatch", "curated", 1)
    assert dialogue.texts("assistant") == [GOOD]
    assert "You are Farore" not in dialogue.conversation and USER in dialogue.conversation


def test_the_bad_file_gets_one_finding_per_problem_and_keeps_its_valid_lines():
    dataset = load_dataset(DATA / "bad.jsonl")
    assert [(f.line, f.rule) for f in dataset.findings] == [
        (2, "json"),
        (3, "messages.0.role"),
        (4, "source"),
        (4, "messages.1.content"),
        (5, "id"),
    ]
    assert [d.line for d in dataset.dialogues] == [1, 6, 7, 8]
    assert str(dataset.findings[-1]) == f"{DATA / 'bad.jsonl'}:5: id: 'good-01' is already used at {DATA / 'bad.jsonl'}:1"


@pytest.mark.parametrize(
    ("roles", "field", "message"),
    [
        (["user", "system", "assistant"], "messages.1.role", "a system message may only come first"),
        (["user", "user"], "messages.1.role", "expected 'assistant'"),
        (["system", "assistant", "user"], "messages.1.role", "expected 'user'"),
        (["user", "assistant", "user"], "messages.2.role", "must end with an assistant turn"),
    ],
)
def test_role_order_is_system_then_alternating_user_assistant(tmp_path, roles, field, message):
    line = {"messages": [{"role": role, "content": "text"} for role in roles]}
    dataset = load_dataset(write_lines(tmp_path / "a.jsonl", [line]))
    (finding,) = dataset.findings
    assert finding.rule == field and message in finding.message


def test_unknown_fields_and_one_message_are_refused(tmp_path):
    lines = [{**record(), "score": 1}, {"messages": [{"role": "user", "content": "hi"}]}]
    findings = load_dataset(write_lines(tmp_path / "a.jsonl", lines)).findings
    assert [(f.line, f.rule) for f in findings] == [(1, "score"), (2, "messages")]


def test_a_directory_means_its_own_jsonl_files_not_its_subdirectories(tmp_path):
    write_lines(tmp_path / "train.jsonl", [record(id="a")])
    write_lines(tmp_path / "valid.jsonl", [record(id="b")])
    (tmp_path / "parts").mkdir()
    write_lines(tmp_path / "parts" / "part.jsonl", [record(id="a")])
    dataset = load_dataset(tmp_path)
    assert [d.id for d in dataset.dialogues] == ["a", "b"] and dataset.passed


def test_unusable_paths_raise_one_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="no such dataset file or directory"):
        load_dataset(tmp_path / "missing.jsonl")
    with pytest.raises(DatasetError, match="no .jsonl files"):
        load_dataset(tmp_path)


def test_records_round_trip_through_write_jsonl(tmp_path):
    line = record(id="x", category="dma_errors", source="mined", commit="0123abcd")
    original = load_dataset(write_lines(tmp_path / "a.jsonl", [line])).dialogues
    path = tmp_path / "out.jsonl"
    assert write_jsonl(path, [dialogue_record(d) for d in original]) == 1
    assert json.loads(path.read_text()) == line
    assert [d.messages for d in load_dataset(path).dialogues] == [d.messages for d in original]


def test_a_finding_prints_as_file_line_rule_message():
    assert str(Finding("train.jsonl", 7, "fix-last", "no **Fix:** section")) == "train.jsonl:7: fix-last: no **Fix:** section"
