from dataset_samples import GOOD, USER, dialogue

from farore.dataset.dedup import DIALOGUE_THRESHOLD, find_duplicates, kept

OTHER_USER = """The game crashes when my menu routine returns. What's wrong?

```asm
Menu_Close:
    PHP
    PHB
    PHK
    PLB
    LDA #$00
    STA $0200
    PLB
    RTL
```"""
OTHER_ANSWER = """**Bug: Stack imbalance on exit**

PHP pushes the status register but the routine never pulls it, so RTL takes the saved P byte as
part of its return address and jumps into garbage, which is why the game crashes.

**What's happening:**
1. PHP and PHB push two bytes; PHK/PLB is balanced.
2. PLB pulls one byte, leaving P on the stack.
3. RTL pulls three bytes starting with that P byte.

**Fix:** add PLP before RTL."""


def test_distinct_dialogues_are_not_duplicates():
    result = find_duplicates([dialogue(line=1), dialogue(OTHER_ANSWER, OTHER_USER, line=2)])
    assert result.passed and result.pairs == () and result.dropped == ()


def test_an_exact_duplicate_differs_only_in_case_and_whitespace():
    copy = dialogue(GOOD.replace("\n", "  \n").upper(), USER, line=5)
    result = find_duplicates([dialogue(line=1), dialogue(OTHER_ANSWER, OTHER_USER, line=2), copy])
    (pair,) = result.pairs
    assert (pair.kind, pair.scope, pair.first, pair.second) == ("exact", "dialogue", "data.jsonl:1", "data.jsonl:5")
    assert result.dropped == ("data.jsonl:5",)
    assert str(result.findings[0]) == "data.jsonl:5: exact-duplicate: dialogue identical to data.jsonl:1"


def test_a_clone_with_renamed_labels_and_addresses_is_a_near_duplicate():
    def clone(text: str) -> str:
        return text.replace("Hud_Refresh", "Status_Redraw").replace("$0F40", "$1C22").replace("flashes", "blinks")

    result = find_duplicates([dialogue(line=1), dialogue(clone(GOOD), clone(USER), line=2)])
    (pair,) = result.pairs
    assert (pair.kind, pair.scope) == ("near", "dialogue")
    assert DIALOGUE_THRESHOLD <= pair.similarity < 1.0


def test_the_same_code_with_another_answer_is_a_code_duplicate():
    recommented = USER.replace("LDA.w $0F40", "lda.w $0F40   ; brightness").replace("Hud_Refresh", "Hud_Draw")
    result = find_duplicates([dialogue(line=1), dialogue(OTHER_ANSWER, recommented, line=2)])
    (pair,) = result.pairs
    assert (pair.kind, pair.scope, pair.similarity) == ("exact", "code", 1.0)


def test_code_sharing_a_few_lines_is_below_the_code_threshold():
    longer = USER.replace("    RTS", "    LDA #$0F\n    STA $0F41\n    JSR Hud_DrawHearts\n    RTS")
    result = find_duplicates([dialogue(line=1), dialogue(OTHER_ANSWER, longer, line=2)])
    assert result.passed, result.pairs


def test_the_first_of_each_pair_is_kept():
    first, other, copy = dialogue(line=1), dialogue(OTHER_ANSWER, OTHER_USER, line=2), dialogue(line=3)
    result = find_duplicates([first, other, copy])
    assert kept([first, other, copy], result) == [first, other]
