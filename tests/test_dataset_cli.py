"""The ``farore data`` commands end to end, through farore.cli.main."""

import json

import pytest
from dataset_samples import DATA, GOOD, USER, record, write_lines

from farore.cli import main

CASES = str(DATA / "cases")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["data", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_validate_prints_every_problem_of_the_bad_file_as_file_line_rule_message(capsys):
    bad = DATA / "bad.jsonl"
    status, out, _ = run(capsys, "validate", str(bad))
    assert status == 1
    lines = out.splitlines()
    assert lines[:3] == [
        f"{bad}:2: json: not valid JSON: Expecting value (column 34)",
        f"{bad}:3: messages.0.role: expected 'user' (turns alternate user, assistant), got 'assistant'",
        f"{bad}:4: source: Input should be 'curated', 'expanded', 'synthetic', 'mined', 'v1' or 'draft'",
    ]
    assert f"{bad}:7: numbered-steps: **What's happening:** needs at least 2 numbered steps (1. 2. ...); found 1" in lines
    assert lines[-2:] == [
        "schema  FAIL  4 of 8 lines valid in 1 file(s)",
        "format  FAIL  strict: 9 errors in 3 of 4 dialogues",
    ]


def test_lenient_validation_warns_and_exits_zero(tmp_path, capsys):
    path = write_lines(tmp_path / "a.jsonl", [record(GOOD + "\n\n**Notes:** none.")])
    assert run(capsys, "validate", str(path))[0] == 1
    status, out, _ = run(capsys, "validate", str(path), "--lenient")
    assert status == 0
    assert f"{path}:1: fix-last: the **Fix:** section must be the last; **Notes:** follows it" in out
    assert "format  PASS  lenient: 1 warnings in 1 of 1 dialogues" in out


def test_validate_json_is_machine_readable(capsys):
    status, out, _ = run(capsys, "validate", str(DATA / "bad.jsonl"), "--json")
    report = json.loads(out)
    assert status == 1 and report["passed"] is False
    assert report["gates"]["schema"]["dialogues"] == 4
    rules = [(f["line"], f["rule"], f["severity"]) for f in report["gates"]["format"]["findings"]]
    assert (8, "fix-last", "error") in rules


def test_check_passes_on_the_shipped_dataset(capsys):
    """What CI runs: the curated dataset against the shipped benchmark."""
    status, out, _ = run(capsys, "check")
    assert status == 0, out
    for gate in ("schema", "format", "dedup", "balance", "contamination", "cues", "coverage"):
        assert any(line.startswith(gate) and "  PASS  " in line for line in out.splitlines()), gate


def test_check_fails_loudly_on_contamination_duplicates_balance_and_coverage(tmp_path, capsys):
    leak = (DATA / "cases" / "dma_errors.yaml").read_text().split("prompt: |\n")[1]
    leak = "\n".join(line[6:] for line in leak.splitlines())
    lines = [record(id="a", category="mode_mismatch"), record(id="b", category="mode_mismatch"),
             record(GOOD, leak, id="c", category="mode_mismatch")]
    path = write_lines(tmp_path / "train.jsonl", lines)
    status, out, _ = run(capsys, "check", str(tmp_path), "--cases", CASES)
    assert status == 1
    assert f"{path}:2: exact-duplicate: dialogue identical to {path}:1" in out
    assert f"{path}:3: contamination: contains the prompt of benchmark case dma-bench-01" in out
    assert "balance: dma_errors holds 0.0% (0 of 3), below the minimum 15%" in out
    assert "coverage: dma_errors: concept '$4305' never occurs in an assistant reply" in out
    verdicts = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.split()[1:2] in (["PASS"], ["FAIL"])}
    assert verdicts == {"schema": "PASS", "format": "PASS", "dedup": "FAIL", "balance": "FAIL",
                        "contamination": "FAIL", "cues": "PASS", "coverage": "FAIL"}


def test_check_json_holds_every_gate(tmp_path, capsys):
    write_lines(tmp_path / "train.jsonl", [record(id="a", category="mode_mismatch")])
    status, out, _ = run(capsys, "check", str(tmp_path), "--cases", CASES, "--json")
    report = json.loads(out)
    assert list(report["gates"]) == ["schema", "format", "dedup", "balance", "contamination", "cues", "coverage"]
    assert report["gates"]["balance"]["below"] == ["dma_errors"]
    coverage = {c["category"]: c["missing"] for c in report["gates"]["coverage"]["categories"]}
    assert coverage["mode_mismatch"] == ["size"] and "$4305" in coverage["dma_errors"]
    assert status == 1 and report["passed"] is False


def test_dedup_writes_the_dataset_without_its_duplicates(tmp_path, capsys):
    source = write_lines(tmp_path / "a.jsonl", [record(id="a"), record(id="b"), record(GOOD, USER + " ", id="c")])
    output = tmp_path / "deduped.jsonl"
    status, out, err = run(capsys, "dedup", str(source), "--output", str(output))
    assert status == 1 and "wrote 1 dialogues" in err
    assert [json.loads(line)["id"] for line in output.read_text().splitlines()] == ["a"]
    assert "dedup  FAIL  3 exact, 0 near pairs; 2 to drop" in out


def test_balance_and_coverage_print_their_tables(tmp_path, capsys):
    write_lines(tmp_path / "a.jsonl", [record(id="a", category="mode_mismatch", source="mined")])
    status, out, _ = run(capsys, "balance", str(tmp_path), "--cases", CASES, "--min-share", "0.5")
    assert status == 1 and "  mode_mismatch  1          100.0%" in out and "  mined   1          100.0%" in out
    status, out, _ = run(capsys, "coverage", str(tmp_path), "--cases", CASES)
    assert status == 1 and "  dma_errors (0)        $4305    0    0    MISSING" in out
    assert "  mode_mismatch  80%" in out


def test_cues_fails_on_a_category_written_in_its_own_case_and_marks_the_extremes(tmp_path, capsys):
    lower = USER.replace("REP", "rep").replace("LDA", "lda").replace("STA", "sta").replace("RTS", "rts")
    lines = [record(id=f"m{i}", category="mode_mismatch") for i in range(10)]
    lines += [record(GOOD, lower, id=f"c{i}", category="register_clobbering") for i in range(10)]
    status, out, _ = run(capsys, "cues", str(write_lines(tmp_path / "a.jsonl", lines)))
    assert status == 1
    assert "cues: 'upper case' tells the categories apart: mode_mismatch 100% of its dialogues, " \
           "register_clobbering 0% (spread 100% > 30%)" in out
    assert "  register_clobbering  10         0% EXTREME    0%                0%" in out
    assert run(capsys, "cues", str(tmp_path), "--max-spread", "1")[0] == 0


def test_coverage_measures_the_ceiling_within_a_token_budget_of_the_embedded_tokenizer(tmp_path, capsys):
    answer = GOOD.replace("\n\n", "\n\n" + "The routine is wrong here. " * 30 + "\n\n", 1)
    write_lines(tmp_path / "a.jsonl", [record(answer, id="a", category="mode_mismatch")])
    status, out, _ = run(capsys, "coverage", str(tmp_path), "--cases", CASES, "--budget-tokens", "12")
    assert "  category       ceiling  within 12 tokens" in out
    assert "  mode_mismatch  80%      20%" in out  # the first 12 tokens, "**Bug: 16-bit/8-", name 16-bit only


def test_unusable_input_exits_2_with_one_message(tmp_path, capsys):
    status, out, err = run(capsys, "validate", str(tmp_path / "nope.jsonl"))
    assert (status, out) == (2, "")
    assert err == f"farore data: {tmp_path / 'nope.jsonl'}: no such dataset file or directory\n"
    status, _, err = run(capsys, "check", str(DATA / "bad.jsonl"), "--cases", str(tmp_path))
    assert status == 2 and "no case files found" in err


def test_import_v1_then_validate(tmp_path, capsys):
    output = tmp_path / "v1.jsonl"
    status, out, _ = run(capsys, "import", "v1", str(DATA / "v1_chat.jsonl"), str(output))
    assert status == 0 and out.startswith(f"wrote 3 v1 dialogues to {output}; dropped fields: 'score' (3 lines)")
    status, out, _ = run(capsys, "validate", str(output))
    assert status == 1 and f"{output}:2: whats-happening: no **What's happening:** section" in out
    status, _, err = run(capsys, "import", "v1", str(DATA / "v1_chat.jsonl"), str(output))
    assert status == 2 and "already exists; pass --force" in err
    assert run(capsys, "import", "v1", str(DATA / "v1_chat.jsonl"), str(output), "--force")[0] == 0


@pytest.mark.parametrize("target", ["cases", "dialogues"])
def test_import_benchmark_as_cases_or_drafts(tmp_path, capsys, target):
    output = tmp_path / ("cases" if target == "cases" else "drafts.jsonl")
    bench = str(DATA / "benchmark_items.jsonl")
    status, _, err = run(capsys, "import", "benchmark", bench, str(output))
    assert status == 2 and "--as cases or --as dialogues" in err
    status, out, err = run(capsys, "import", "benchmark", bench, str(output), "--as", target, "--concepts-from", CASES)
    if target == "cases":  # stack_corruption has no concepts in the test benchmark
        assert status == 2 and "benchmark_items.jsonl:3: category: no concepts known for 'stack_corruption'" in err
        assert not output.exists()
    else:
        assert status == 0 and "wrote 3 draft dialogues" in out
