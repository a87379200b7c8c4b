import pytest
from dataset_samples import GOOD, dialogue

from farore.dataset.format import RULE_NAMES, check_format, check_reply

EXPLANATION = (
    "REP #$20 leaves the accumulator 16-bit, so the store to the 8-bit INIDISP register also writes\n"
    "$2101, which is why the screen flashes.\n\n"
)
# One reply per rule that breaks that rule and no other.
BREAKING = {
    "bug-header": GOOD.replace("**Bug: 16-bit/8-bit mode mismatch**", "There is a 16-bit/8-bit mode mismatch."),
    "explanation-first": GOOD.replace(EXPLANATION, ""),
    "whats-happening": GOOD.replace("**What's happening:**", "**Details:**"),
    "numbered-steps": GOOD.replace("2. STA.w", "Then STA.w"),
    "fix-last": GOOD + "\n\n**Notes:** the same holds for $2105.",
    "code-before-fix": GOOD.replace("2. STA.w $2100", "2. The store\n```asm\nSTA.w $2100\n```\n   writes"),
}


def test_the_reference_reply_passes_every_rule():
    assert check_reply(GOOD) == []


def test_every_rule_has_a_failing_example():
    assert set(BREAKING) == set(RULE_NAMES)


@pytest.mark.parametrize("rule", RULE_NAMES)
def test_each_failing_example_breaks_exactly_its_rule(rule):
    assert [name for name, _ in check_reply(BREAKING[rule])] == [rule]


@pytest.mark.parametrize(
    ("reply", "rule", "message"),
    [
        (GOOD.replace("Bug: 16-bit/8-bit mode mismatch", "Bug: "), "bug-header", "names no bug type"),
        (GOOD.replace("\n**Fix:** switch A back to 8-bit before the store:\n```asm\n    SEP #$20\n    LDA.w $0F40\n"
                      "    STA.w $2100\n```", "\n**Fix:**"), "fix-last", "section is empty"),
        (GOOD.split("**Fix:**")[0], "fix-last", "no **Fix:** section"),
        ("**Bug: Stack imbalance**\n\nThe routine pushes two bytes and pulls only one of them back.\n\n"
         "**Fix:** pull X too.\n\n**What's happening:**\n1. PHA, PHX.\n2. PLA, RTS.",
         "whats-happening", "must come before the **Fix:** section"),
        ("```asm\nSEP #$20\n```\nUse this; it makes the accumulator 8-bit again for the store.",
         "code-before-fix", "no **Fix:** section to hold it"),
        (GOOD.replace("1. REP", "- REP").replace("2. STA", "- STA"), "numbered-steps", "found 0"),
    ],
)
def test_other_ways_to_break_a_rule_are_named(reply, rule, message):
    violations = dict(check_reply(reply))
    assert rule in violations and message in violations[rule]


@pytest.mark.parametrize(
    "reply",
    [
        GOOD.replace("What's happening", "What\u2019s happening"),
        GOOD.replace("1. REP", "1) REP").replace("2. STA", "2) STA"),
        GOOD.replace("**Fix:** switch", "**Fix:**\nSwitch"),
        GOOD.replace("```asm\n    SEP #$20", "```asm\n**Note:** not a section inside code\n    SEP #$20"),
        GOOD.replace("\n\nREP #$20 leaves", " REP #$20 leaves"),
    ],
    ids=["curly-apostrophe", "parenthesis-steps", "fix-on-next-line", "bold-inside-code", "explanation-on-header-line"],
)
def test_harmless_variations_still_pass(reply):
    assert check_reply(reply) == []


def test_strict_mode_fails_with_errors_and_lenient_mode_passes_with_warnings():
    dialogues = [dialogue(GOOD, line=1), dialogue(BREAKING["fix-last"], line=2)]
    strict, lenient = check_format(dialogues), check_format(dialogues, strict=False)
    assert not strict.passed and lenient.passed
    assert [(f.line, f.rule, f.severity) for f in strict.findings] == [(2, "fix-last", "error")]
    assert [(f.line, f.rule, f.severity) for f in lenient.findings] == [(2, "fix-last", "warning")]
    assert str(strict.findings[0]) == "data.jsonl:2: fix-last: the **Fix:** section must be the last; **Notes:** follows it"


def test_every_assistant_turn_is_checked_and_named_when_there_are_several():
    base = dialogue(GOOD)
    follow_up = dialogue("Yes, the same applies to $2105.")
    two_turns = type(base)(base.path, 3, base.messages + follow_up.messages)
    rules = {(f.rule, f.message.split(":")[0]) for f in check_format([two_turns]).findings}
    assert ("bug-header", "assistant turn 2") in rules
    assert not any(turn == "assistant turn 1" for _, turn in rules)
