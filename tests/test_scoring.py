import pytest

from farore.cases import Case, parse_concept
from farore.scoring import concept_found, find_anti_keywords, find_term, score_legacy, score_response


def case(*concepts: str, anti=("I cannot", "not sure", "as an AI"), threshold=0.6) -> Case:
    return Case(
        id="c",
        category="test",
        prompt="p",
        concepts=tuple(parse_concept(c) for c in concepts),
        anti_keywords=anti,
        threshold=threshold,
    )


@pytest.mark.parametrize("text", ["a 16-bit store", "a 16 bit store", "a 16bit store", "A 16-Bit STORE"])
def test_hyphenated_term_matches_its_spellings(text):
    assert find_term(text, "16-bit")


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("the model is small", "mode"),
        ("this is a stack imbalance", "balance"),
        ("everything is fine", "Y"),
        ("a 116-bit bus", "16-bit"),
        ("write $43050", "$4305"),
        ("PHAX is not an opcode", "PHA"),
    ],
)
def test_fragments_of_longer_words_do_not_match(text, term):
    assert not find_term(text, term)


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("the callee clobbers Y", "clobber"),
        ("Y was clobbered", "clobber"),
        ("it is preserved", "preserve"),
        ("preserving X", "preserve"),
        ("pushes are balanced", "balance"),
        ("both modes", "mode"),
        ("write $4305 first", "$4305"),
        ("(count in $4306)", "$4306"),
        ("Y is caller-saved", "caller-save"),
        ("store to Y.", "Y"),
    ],
)
def test_whole_terms_and_regular_inflections_match(text, term):
    assert find_term(text, term)


def test_single_letter_terms_match_their_case_only():
    assert find_term("LDY sets Y", "Y")
    assert not find_term("y is a letter", "Y")


def test_slash_concept_is_met_by_any_spelling():
    rep_sep = parse_concept("REP/SEP")
    assert rep_sep.spellings == ("REP", "SEP")
    assert concept_found("add SEP #$20 first", rep_sep)
    assert concept_found("the REP is wrong", rep_sep)
    assert not concept_found("repeat the step", rep_sep)


def test_case_score_is_share_of_concepts_and_passes_at_threshold():
    result = score_response("The stack has an imbalance: PHA without PLA.", case("stack", "PHA/PLA", "balance", "imbalance"))
    assert result.found == ("stack", "PHA/PLA", "imbalance")
    assert result.missing == ("balance",)
    assert result.score == pytest.approx(0.75)
    assert result.passed


def test_anti_keyword_fails_the_case_whatever_the_score():
    result = score_response("I'm not sure, but the stack PHA balance imbalance", case("stack", "PHA/PLA", "balance", "imbalance"))
    assert result.score == 1.0
    assert result.anti_keywords == ("not sure",)
    assert not result.passed


def test_anti_keywords_are_whole_terms_and_fold_typographic_apostrophes():
    assert find_anti_keywords("I can\u2019t tell", ["I can't"]) == ("I can't",)
    assert find_anti_keywords("the AI cannot", ["I cannot"]) == ()


def test_legacy_reproduces_the_original_substring_arithmetic():
    # The original script: lower-cased substring match over the flattened keywords, an
    # anti-keyword halves the score, and a case passes at >= 0.6 with no anti-keyword.
    clobber = case("Y", "clobber", "preserve", "PHY/PLY", anti=("sorry", "cannot"))
    text = "Everything looks fine; the routine clobbers the index, push it with phy."
    legacy = score_legacy(text, clobber)
    assert legacy.found == ("Y", "clobber", "PHY")  # "y" of "everything" counts in legacy mode
    assert legacy.missing == ("preserve", "PLY")
    assert legacy.score == pytest.approx(3 / 5)
    assert legacy.passed

    halved = score_legacy(text + " Sorry.", clobber)
    assert halved.score == pytest.approx(3 / 5 * 0.5)
    assert not halved.passed

    whole = score_response(text, clobber, "whole-term")
    assert whole.found == ("clobber", "PHY/PLY")  # no register Y, "phy" matches case-insensitively


def test_legacy_substring_finds_mode_inside_model():
    assert score_legacy("the model", case("mode")).score == 1.0
    assert score_response("the model", case("mode")).score == 0.0
