"""The training data: gates before compute, the validation split, the recorded identity."""

import json
from pathlib import Path

import pytest

from farore.cases import load_cases
from farore.dataset.schema import load_dataset
from farore.resources import default_cases_dir, fixtures_dir
from farore.train.config import ConfigError
from farore.train.data import (
    DataGateError,
    digest,
    jsonl_text,
    load_training_data,
    split_validation,
    stratified_sample,
    with_system_prompt,
)

DATA = Path(__file__).parent / "data"
TRAIN, VALID = DATA / "train_tiny.jsonl", DATA / "valid_tiny.jsonl"


@pytest.fixture(scope="module")
def cases():
    return load_cases(default_cases_dir())


def test_a_clean_dataset_passes_every_gate_and_keeps_its_files_apart(cases):
    data = load_training_data([TRAIN], [VALID], cases, valid_fraction=0.1, seed=0)
    assert [d.id for d in data.train] == ["t-mode-1", "t-stack-1", "t-clobber-1", "t-dma-1"]
    assert [d.id for d in data.valid] == ["t-switch-1", "t-stack-2"]
    assert data.valid_source == "file"
    assert not data.gates.blocking


def _write(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_dataset_with_a_benchmark_case_in_it_stops_before_any_compute(tmp_path, cases):
    case = cases[0]
    rows = [json.loads(line) for line in TRAIN.read_text().splitlines()]
    rows[1]["messages"][0]["content"] = case.prompt
    train = _write(tmp_path / "train.jsonl", rows)
    with pytest.raises(DataGateError) as raised:
        load_training_data([train], [VALID], cases, 0.1, 0, allowed=frozenset({"balance", "coverage", "dedup"}))
    message = str(raised.value)
    assert "data contamination: FAIL" in message
    assert f"{train}:2" in message and case.id in message
    assert "nothing was trained" in message


def test_contamination_can_never_be_allowed(cases):
    with pytest.raises(DataGateError, match="contamination gate cannot be allowed"):
        load_training_data([TRAIN], [VALID], cases, 0.1, 0, allowed=frozenset({"contamination"}))


def test_an_allowed_gate_warns_instead_of_stopping(cases):
    data = load_training_data([TRAIN], [], cases, 0.25, 0, allowed=frozenset({"balance", "coverage"}))
    verdicts = {line.split(":")[0]: line for line in data.gates.lines() if line.startswith("data ")}
    assert all(": PASS" in line or ": warn" in line for line in verdicts.values())


def test_a_category_written_in_its_own_case_stops_the_run(tmp_path, cases):
    """The cue a small model learns instead of the bug: clobbering routines in lower case only."""
    mode, _, clobber, _ = [json.loads(line) for line in TRAIN.read_text().splitlines()]
    lower = clobber["messages"][0]["content"].replace("LDY", "ldy").replace("JSR", "jsr").replace("DEY", "dey").replace("BNE", "bne")
    rows = [{**mode, "id": f"m{i}"} for i in range(10)]
    rows += [{**clobber, "id": f"c{i}", "messages": [{"role": "user", "content": lower}, clobber["messages"][1]]} for i in range(10)]
    train = _write(tmp_path / "train.jsonl", rows)
    with pytest.raises(DataGateError) as raised:
        load_training_data([train], [VALID], cases, 0.1, 0, allowed=frozenset({"balance", "coverage", "dedup"}))
    assert "data cues: FAIL" in str(raised.value) and "register_clobbering 0%" in str(raised.value)


def test_a_format_violation_stops_the_run_with_file_line_and_rule(tmp_path, cases):
    rows = [json.loads(line) for line in TRAIN.read_text().splitlines()]
    rows[2]["messages"][1]["content"] = "```asm\nPHY\n```\nJust push Y."
    train = _write(tmp_path / "train.jsonl", rows)
    with pytest.raises(DataGateError, match=rf"{train}:3: bug-header: "):
        load_training_data([train], [VALID], cases, 0.1, 0, allowed=frozenset({"coverage"}))


def test_the_split_holds_out_each_category_and_repeats_with_the_seed():
    dialogues = load_dataset([TRAIN, VALID]).dialogues
    train, valid = split_validation(dialogues, 0.5, seed=3)
    assert {d.id for d in valid} == {d.id for d in split_validation(dialogues, 0.5, seed=3)[1]}
    assert len(train) + len(valid) == len(dialogues) and not {d.id for d in train} & {d.id for d in valid}
    assert [d.category for d in valid] == ["stack_corruption"]  # the only category with two dialogues


def test_a_tiny_split_still_validates_on_something():
    dialogues = load_dataset([TRAIN]).dialogues
    train, valid = split_validation(dialogues, 0.1, seed=0)
    assert len(valid) == 1 and len(train) == 3


def test_a_training_sample_keeps_each_categorys_share_and_repeats_with_the_seed():
    dialogues = load_dataset([fixtures_dir() / "datasets" / "curated" / "train.jsonl"]).dialogues
    sample = stratified_sample(dialogues, 120, seed=42)
    assert len(sample) == 120 and len({d.id for d in sample}) == 120
    for category in {d.category for d in dialogues}:
        share = 120 * sum(d.category == category for d in dialogues) / len(dialogues)
        assert abs(sum(d.category == category for d in sample) - share) < 1, category
    positions = [dialogues.index(d) for d in sample]
    assert positions == sorted(positions)  # file order, not the draw's
    assert [d.id for d in stratified_sample(dialogues, 120, seed=42)] == [d.id for d in sample]
    assert {d.id for d in stratified_sample(dialogues, 120, seed=7)} != {d.id for d in sample}


def test_train_samples_shrinks_only_the_training_side(cases):
    data = load_training_data([TRAIN], [VALID], cases, 0.1, seed=0, allowed=frozenset({"balance"}), train_samples=2)
    assert len(data.train) == 2 and [d.id for d in data.valid] == ["t-switch-1", "t-stack-2"]
    with pytest.raises(ConfigError, match="train_samples: 5 is not between 1 and the 4 training dialogues"):
        load_training_data([TRAIN], [VALID], cases, 0.1, seed=0, train_samples=5)


def test_the_system_prompt_goes_only_where_there_is_none():
    row = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    assert with_system_prompt(row, "S")["messages"][0] == {"role": "system", "content": "S"}
    own = with_system_prompt(row, "S")
    assert with_system_prompt(own, "T") == own
    assert with_system_prompt(row, None) == row


def test_the_digest_is_the_sha256_of_the_written_file(tmp_path):
    import hashlib

    rows = [json.loads(line) for line in TRAIN.read_text().splitlines()]
    path = tmp_path / "t.jsonl"
    path.write_text(jsonl_text(rows), encoding="utf-8")
    assert digest(rows) == hashlib.sha256(path.read_bytes()).hexdigest()
