from farore.behaviour import diagnosis_first, explains_symptom, precise_terminology, shows_reasoning, symptom_words


def test_diagnosis_before_fix_passes():
    assert diagnosis_first("**Bug: Stack imbalance**\nThe PHA has no PLA.\n**Fix:** add PLA")
    assert diagnosis_first("The problem is the missing SEP. You should add SEP #$20.")


def test_code_or_fix_before_diagnosis_fails():
    assert not diagnosis_first("```asm\nSEP #$20\n```\nThe bug was the mode.")
    assert not diagnosis_first("To fix this, replace the store. The bug is the size.")
    assert not diagnosis_first("Here is some code that moves data around.")


def test_diagnosis_without_any_fix_passes():
    assert diagnosis_first("The issue is that Y is clobbered by the helper.")


def test_symptom_needs_a_causal_link_and_the_symptom_itself():
    symptom = "the sprite teleports to the left edge"
    assert explains_symptom("Y is clobbered, which is why the sprite jumps.", symptom)
    assert not explains_symptom("Y is clobbered, which is why the music stops.", symptom)
    assert not explains_symptom("The sprite teleports. Y is clobbered.", symptom)
    assert explains_symptom("This happens because A is 16-bit.", None)


def test_symptom_words_skip_short_and_stop_words():
    assert symptom_words("the game freezes after the second call") == ["freezes", "second", "call"]


def test_terminology_needs_three_distinct_glossary_terms():
    assert precise_terminology("REP makes the accumulator 16-bit.")
    assert not precise_terminology("REP makes it bigger.")


def test_reasoning_is_numbered_steps_or_sequence_words():
    assert shows_reasoning("Steps:\n1. REP runs.\n2. LDA loads two bytes.")
    assert shows_reasoning("First, REP runs. Then LDA loads two bytes.")
    assert not shows_reasoning("REP runs and LDA loads two bytes.")
