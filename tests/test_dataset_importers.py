import pytest
from dataset_samples import DATA

from farore.cases import load_cases
from farore.dataset.contamination import find_contamination
from farore.dataset.format import check_format
from farore.dataset.importers import (
    ImportFormatError,
    case_documents,
    draft_dialogues,
    import_v1,
    load_benchmark_items,
    shared_concepts,
    write_case_files,
)
from farore.dataset.schema import load_dataset, write_jsonl


def test_v1_lines_are_converted_as_they_are(tmp_path):
    imported = import_v1(DATA / "v1_chat.jsonl")
    assert imported.dropped_fields == {"score": 3}
    first = imported.records[0]
    assert (first["id"], first["source"]) == ("v1-0001", "v1")
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    path = tmp_path / "v1.jsonl"
    write_jsonl(path, imported.records)
    dataset = load_dataset(path)
    assert dataset.passed and len(dataset.dialogues) == 3


def test_the_validator_then_says_what_is_wrong_with_the_v1_answers(tmp_path):
    path = tmp_path / "v1.jsonl"
    write_jsonl(path, import_v1(DATA / "v1_chat.jsonl").records)
    findings = check_format(load_dataset(path).dialogues).findings
    assert [(f.line, f.rule) for f in findings] == [
        (1, "bug-header"),
        (1, "explanation-first"),
        (1, "whats-happening"),
        (1, "fix-last"),
        (1, "code-before-fix"),
        (2, "whats-happening"),
    ]


def test_a_v1_line_without_messages_names_the_line_and_field(tmp_path):
    source = tmp_path / "v1.jsonl"
    source.write_text('{"messages": []}\n{"conversation": []}\n')
    with pytest.raises(ImportFormatError, match=r"v1.jsonl:2: messages: expected a list"):
        import_v1(source)


def test_benchmark_items_become_loadable_case_files(tmp_path):
    items = load_benchmark_items(DATA / "benchmark_items.jsonl")
    known = shared_concepts(load_cases(DATA / "cases"))
    known["stack_corruption"] = known["mode_mismatch"][:1]
    write_case_files(case_documents(DATA / "benchmark_items.jsonl", items, known), tmp_path)
    cases = {c.id: c for c in load_cases(tmp_path)}
    assert set(cases) == {"mm_001", "dma-002", "st-003"}
    mode = cases["mm_001"]
    assert mode.category == "mode_mismatch"
    assert "```asm\nREP #$20\nLDA.w $10\nSTA.b $12\n```" in mode.prompt
    assert mode.symptom == "Expected $12 to be $10's value but it's wrong."
    assert [c.name for c in mode.concepts] == ["16-bit", "8-bit", "mode", "REP/SEP", "size"]  # keywords once
    assert "issue: 16-bit/8-bit mode mismatch" in mode.notes and "difficulty: easy" in mode.notes
    assert cases["dma-002"].category == "dma_errors"
    assert "expected output: **Bug: DMA count of zero**" in cases["dma-002"].notes


def test_keywords_alone_make_the_concepts_of_an_unknown_category(tmp_path):
    source = tmp_path / "bench.jsonl"
    source.write_text('{"id": 7, "category": "Branch range", "code": "BEQ Far", "expected_output": ["BRL", "range"]}\n')
    write_case_files(case_documents(source, load_benchmark_items(source), {}), tmp_path / "cases")
    (case,) = load_cases(tmp_path / "cases")
    assert (case.id, case.category, [c.name for c in case.concepts]) == ("7", "branch_range", ["BRL", "range"])


def test_a_category_without_concepts_is_refused_with_its_line():
    items = load_benchmark_items(DATA / "benchmark_items.jsonl")
    known = shared_concepts(load_cases(DATA / "cases"))
    with pytest.raises(ImportFormatError, match=r"benchmark_items.jsonl:3: category: no concepts known for 'stack_corruption'"):
        case_documents(DATA / "benchmark_items.jsonl", items, known)


def test_a_benchmark_line_missing_a_field_names_it(tmp_path):
    source = tmp_path / "bench.jsonl"
    source.write_text('{"id": "x", "category": "dma_errors"}\n')
    with pytest.raises(ImportFormatError, match=r"bench.jsonl:1: code: Field required"):
        load_benchmark_items(source)


def test_draft_dialogues_take_the_expected_answer_or_the_issue(tmp_path):
    drafts = draft_dialogues(load_benchmark_items(DATA / "benchmark_items.jsonl"))
    answers = {d["id"]: d["messages"][1]["content"] for d in drafts}
    assert answers["dma-002"].startswith("**Bug: DMA count of zero**")
    assert answers["st-003"] == "**Bug: Stack imbalance**\n\nTwo pushes, one pull."
    assert {d["source"] for d in drafts} == {"draft"}
    path = tmp_path / "drafts.jsonl"
    write_jsonl(path, drafts)
    assert load_dataset(path).passed


def test_drafts_of_benchmark_cases_are_caught_as_contamination(tmp_path):
    items = load_benchmark_items(DATA / "benchmark_items.jsonl")
    path = tmp_path / "drafts.jsonl"
    write_jsonl(path, draft_dialogues(items))
    known = {item.category: load_cases(DATA / "cases")[0].concepts for item in items}
    write_case_files(case_documents(DATA / "benchmark_items.jsonl", items, known), tmp_path / "cases")
    hits = find_contamination(load_dataset(path).dialogues, load_cases(tmp_path / "cases")).hits
    assert [(h.line, h.case_id, h.kind) for h in hits] == [(1, "mm_001", "prompt"), (2, "dma-002", "prompt"), (3, "st-003", "prompt")]
