import pytest
from dataset_samples import DATA, USER, dialogue

from farore.cases import load_cases
from farore.dataset.cues import MIN_DIALOGUES, measure_cues, names_concepts, prose_after_code, upper_case_code
from farore.dataset.similarity import prose
from farore.dataset.trace import written_mnemonics

CASES = load_cases(DATA / "cases")  # mode_mismatch: 16-bit, 8-bit, mode, REP/SEP, size
LOWER = "Why does it crash?\n\n```asm\nMain:\n    rep #$20      ; and then LDA TAX STA in the comment\n    lda $10\n    sta $12\n    rts\n```"
UPPER = LOWER.replace("rep", "REP").replace("lda", "LDA").replace("sta", "STA").replace("rts", "RTS")
HINTED = "A is 8-bit here and the screen flashes:\n\n```asm\nMain:\n    LDA $10\n    RTS\n```"


def test_the_written_mnemonics_keep_their_case_and_skip_comments_and_labels():
    code = "Main:\n    rep #$20      ; and then LDA\n    LDA.w Table,x : sta $12\n.loop RTS"
    assert written_mnemonics(code) == ["rep", "LDA", "sta", "RTS"]


def test_a_dialogue_is_upper_case_when_most_mnemonics_of_the_users_code_are():
    assert upper_case_code(dialogue(user=UPPER)) is True
    assert upper_case_code(dialogue(user=LOWER)) is False
    assert upper_case_code(dialogue(user=UPPER.replace("REP", "rep").replace("LDA", "lda"))) is False  # 2 of 4
    assert upper_case_code(dialogue(user="My game crashes, what is wrong with REP and SEP?")) is None  # prose only


def test_only_the_users_prose_can_name_the_categorys_concepts():
    concepts = CASES[0].concepts if CASES[0].category == "mode_mismatch" else CASES[-1].concepts
    assert prose(HINTED) == "A is 8-bit here and the screen flashes:\n\n"
    assert names_concepts(dialogue(user=HINTED), concepts)
    assert not names_concepts(dialogue(user=UPPER), concepts)  # REP in the code only
    assert not names_concepts(dialogue(user=USER), concepts)  # "flashes", "HUD": no concept


def test_prose_after_the_code_is_a_symptom_told_after_it():
    assert prose_after_code(dialogue(user=UPPER)) is False
    assert prose_after_code(dialogue(user=UPPER + "\n\nIt crashes as soon as the room loads, every time.")) is True
    assert prose_after_code(dialogue(user=UPPER + "\n\nWhat's wrong?")) is False  # a closing question is not a symptom
    assert prose_after_code(dialogue(user="It crashes, no code to show.")) is None


def _category(name: str, upper: int, lower: int, user_upper: str = UPPER):
    return [dialogue(user=user_upper, category=name)] * upper + [dialogue(user=LOWER, category=name)] * lower


def test_a_category_written_in_another_case_fails_the_gate_naming_both_extremes():
    dialogues = _category("mode_mismatch", 10, 0) + _category("register_clobbering", 1, 9) + _category("dma_errors", 6, 4)
    result = measure_cues(dialogues, CASES)
    assert {c.category: c.styles["upper case"].share for c in result.categories} == pytest.approx(
        {"mode_mismatch": 1.0, "register_clobbering": 0.1, "dma_errors": 0.6}
    )
    (case, layout) = result.spreads
    assert case.value == pytest.approx(0.9) and layout.value == 0 and not result.passed
    assert result.problems() == [
        "'upper case' tells the categories apart: mode_mismatch 100% of its dialogues, register_clobbering 10% "
        "(spread 90% > 30%); give every category the same mix"
    ]


def test_questions_that_name_their_categorys_concepts_fail_the_gate():
    dialogues = _category("mode_mismatch", 3, 0, HINTED) + _category("mode_mismatch", 7, 0)
    result = measure_cues(dialogues, CASES)
    assert [c.hinted.share for c in result.categories] == [pytest.approx(0.3)] and not result.passed
    assert result.problems() == [
        "mode_mismatch: 30% of the questions (3 of 10) name the category's concepts outside the code (max 20%); "
        "let the user describe the symptom and leave such facts to the code and its comments"
    ]
    assert measure_cues(dialogues, CASES, max_hinted=0.3).passed


def test_the_same_mix_of_cases_in_every_category_passes():
    result = measure_cues(_category("mode_mismatch", 8, 2) + _category("register_clobbering", 7, 3), CASES)
    assert result.passed and result.spreads[0].value == pytest.approx(0.1) and result.problems() == []


def test_categories_too_small_for_a_share_are_left_out_and_the_spread_is_configurable():
    small = _category("branch_logic", 0, MIN_DIALOGUES - 1) + _category("dma_errors", 0, MIN_DIALOGUES - 1, HINTED)
    assert measure_cues(_category("mode_mismatch", 10, 0) + small, CASES).passed
    mixed = _category("mode_mismatch", 10, 0) + _category("dma_errors", 8, 2)
    assert measure_cues(mixed, CASES).passed and not measure_cues(mixed, CASES, max_spread=0.1).passed
