"""Stage 1 of the seed's Option B: the answers without their Fix section."""

import json
from pathlib import Path

from farore.dataset.format import check_reply
from farore.train.two_stage import DIAGNOSIS, FULL, diagnosis_only, diagnosis_records, stages

ANSWER = (
    "**Bug: stack imbalance**\n\n"
    "The PHA pushes a byte that no PLA removes, so RTS pulls the wrong return address.\n\n"
    "**What's happening:**\n1. PHA pushes A.\n2. RTS pulls that byte as part of the address.\n\n"
    "**Fix:**\nAdd PLA before RTS:\n```asm\nPLA\nRTS\n```"
)
TINY = Path(__file__).parent / "data" / "train_tiny.jsonl"


def test_the_fix_section_and_everything_after_it_go():
    assert diagnosis_only(ANSWER) == (
        "**Bug: stack imbalance**\n\n"
        "The PHA pushes a byte that no PLA removes, so RTS pulls the wrong return address.\n\n"
        "**What's happening:**\n1. PHA pushes A.\n2. RTS pulls that byte as part of the address."
    )


def test_the_diagnosis_keeps_every_format_rule_but_the_fix():
    assert [rule for rule, _ in check_reply(diagnosis_only(ANSWER))] == ["fix-last"]


def test_a_fix_inside_a_code_block_is_not_a_section():
    answer = "**Bug: x**\nexplained here in enough words to count as prose.\n```\n**Fix:** not a section\n```"
    assert diagnosis_only(answer) == answer


def test_an_answer_without_a_fix_is_unchanged():
    assert diagnosis_only("**Bug: x**\nno fix here") == "**Bug: x**\nno fix here"


def test_records_keep_questions_and_metadata_and_cut_every_answer():
    rows = [json.loads(line) for line in TINY.read_text().splitlines()]
    cut = diagnosis_records(rows)
    assert [r["id"] for r in cut] == [r["id"] for r in rows]
    for before, after in zip(rows, cut):
        assert after["messages"][0] == before["messages"][0]
        assert "**Fix:**" in before["messages"][1]["content"]
        assert "**Fix:**" not in after["messages"][1]["content"]
        assert before["messages"][1]["content"].startswith(after["messages"][1]["content"])


def test_the_plans():
    assert stages(False) == (FULL,)
    assert stages(True) == (DIAGNOSIS, FULL)
