from dataset_samples import DATA, GOOD, dialogue

from farore.cases import load_cases
from farore.dataset.contamination import NEAR_CODE_THRESHOLD, find_contamination

CASES = load_cases(DATA / "cases")
PALETTE = next(c for c in CASES if c.id == "dma-bench-01")


def test_clean_training_data_has_no_hits():
    result = find_contamination([dialogue(line=1)], CASES)
    assert result.passed and result.cases == 2


def test_a_copied_prompt_is_found_whatever_its_case_and_spacing():
    copied = "  ".join(PALETTE.prompt.upper().split(" "))
    result = find_contamination([dialogue(GOOD, copied, line=4, id="leak")], CASES)
    (hit,) = result.hits
    assert (hit.line, hit.dialogue_id, hit.case_id, hit.kind) == (4, "leak", "dma-bench-01", "prompt")
    assert str(result.findings[0]) == "data.jsonl:4: contamination: contains the prompt of benchmark case dma-bench-01"


def test_the_code_block_is_found_with_new_comments_labels_and_layout():
    code = PALETTE.prompt.split("```asm\n")[1].split("```")[0]
    disguised = code.replace("Palette_Upload", "LoadColours").replace("    ", "\t").replace("#$22", "#$22 ; CGRAM")
    user = f"Why do my colours go black?\n\n```asm\n{disguised.lower()}```"
    (hit,) = find_contamination([dialogue(GOOD, user)], CASES).hits
    assert (hit.case_id, hit.kind, hit.overlap) == ("dma-bench-01", "code", 1.0)


def test_a_block_inside_a_longer_routine_with_a_changed_constant_is_a_near_copy():
    code = PALETTE.prompt.split("```asm\n")[1].split("```")[0]
    edited = code.replace("LDA #$FF", "LDA #$7F").replace("    RTS", "    JSR Fade_Start\n    RTS")
    user = f"```asm\nInit:\n    SEI\n    STZ $4200\n{edited}```\nColours are black."
    (hit,) = find_contamination([dialogue(GOOD, user, line=9)], CASES).hits
    assert hit.kind == "near-code" and NEAR_CODE_THRESHOLD <= hit.overlap < 1.0
    assert "nearly reproduces the code" in hit.finding().message and "dma-bench-01" in hit.finding().message


def test_the_answer_turn_counts_too():
    code = PALETTE.prompt.split("```asm\n")[1].split("```")[0]
    answer = GOOD.replace("    SEP #$20\n    LDA.w $0F40\n    STA.w $2100\n", code)
    (hit,) = find_contamination([dialogue(answer)], CASES).hits
    assert hit.kind == "code"


def test_shared_idioms_are_not_contamination():
    idiom = (
        "```asm\nFade_Upload:\n    STZ.w $2121\n    LDA #$02\n    STA.w $4300\n    LDA #$22\n    STA.w $4301\n"
        "    REP #$20\n    LDA.w #$0200\n    STA.w $4305\n    SEP #$20\n    LDA #$01\n    STA.w $420B\n    RTS\n```"
    )
    result = find_contamination([dialogue(GOOD, idiom)], CASES, threshold=0.01)
    (shared,) = [hit.overlap for hit in result.hits]
    assert 0 < shared < NEAR_CODE_THRESHOLD
    assert find_contamination([dialogue(GOOD, idiom)], CASES).passed
