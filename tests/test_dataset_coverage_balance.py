import pytest
from dataset_samples import DATA, GOOD, dialogue

from farore.cases import load_cases
from farore.dataset.balance import UNLABELLED, measure_balance
from farore.dataset.coverage import Budget, measure_coverage

CASES = load_cases(DATA / "cases")


def _concepts(result, category):
    (found,) = [c for c in result.categories if c.category == category]
    return found, {c.name: (c.dialogues, c.in_category) for c in found.concepts}


def test_coverage_counts_the_dialogues_whose_answers_use_each_concept():
    dma_answer = "**Bug: DMA count**\n\nThe byte count in $4305 is too small."
    result = measure_coverage([dialogue(line=1), dialogue(line=2), dialogue(dma_answer, category="dma_errors", line=3)], CASES)
    mode, counts = _concepts(result, "mode_mismatch")
    assert mode.dialogues == 2
    assert counts["16-bit"] == (2, 2) and counts["REP/SEP"] == (2, 2)
    dma, counts = _concepts(result, "dma_errors")
    assert counts["$4305"] == (1, 1) and counts["count"] == (1, 1)
    assert dma.missing == ("$4306", "length")
    assert not result.passed
    assert "dma_errors: concept '$4306' never occurs in an assistant reply" in result.problems()


def test_a_concept_only_the_user_mentions_is_not_covered():
    user = "Is this a length or count problem with $4305/$4306?"
    result = measure_coverage([dialogue(GOOD, user, category="dma_errors")], CASES)
    assert _concepts(result, "dma_errors")[0].missing == ("$4305", "$4306", "length", "count")


def test_coverage_uses_the_scorers_whole_term_matching():
    answer = "**Bug: model bug**\n\nThe model is wrong about the sizes."
    _, counts = _concepts(measure_coverage([dialogue(answer)], CASES), "mode_mismatch")
    assert counts["mode"] == (0, 0)  # "model" is not "mode"
    assert counts["size"] == (1, 1)  # "sizes" is an inflection of "size"


def test_balance_counts_categories_and_sources_and_flags_low_shares():
    dialogues = (
        [dialogue(category="mode_mismatch", source="curated")] * 6
        + [dialogue(category="dma_errors", source="synthetic")] * 3
        + [dialogue(category=None, source=None)]
    )
    result = measure_balance(dialogues, ["mode_mismatch", "dma_errors", "stack_corruption"])
    assert result.categories == {"mode_mismatch": 6, "dma_errors": 3, UNLABELLED: 1}
    assert result.sources == {"curated": 6, "synthetic": 3, UNLABELLED: 1}
    assert result.share("dma_errors") == pytest.approx(0.3)
    assert result.below == ("stack_corruption",) and not result.passed
    assert result.problems() == ["stack_corruption holds 0.0% (0 of 10), below the minimum 15%"]


def test_the_minimum_share_is_configurable():
    dialogues = [dialogue(category="mode_mismatch")] * 3 + [dialogue(category="dma_errors")]
    assert measure_balance(dialogues, ["mode_mismatch", "dma_errors"]).passed
    assert measure_balance(dialogues, ["mode_mismatch", "dma_errors"], min_share=0.3).below == ("dma_errors",)


def test_an_empty_dataset_is_not_balanced():
    assert measure_balance([], ["mode_mismatch"]).problems() == ["the dataset holds no dialogue"]


def test_the_ceiling_is_the_score_of_answering_exactly_like_the_training_answers():
    full = "**Bug: DMA count**\n\nThe transfer length in $4305/$4306 is a byte count, not a word count."
    late = "**Bug: DMA too short**\n\nThe transfer stops early.\n\n**Fix:** Set the byte count in $4305."
    result = measure_coverage(
        [dialogue(full, category="dma_errors"), dialogue(late, category="dma_errors")],
        CASES,
        Budget(20, cut=lambda text: text.split("\n\n**Fix:**")[0]),
    )
    dma, _ = _concepts(result, "dma_errors")
    assert dma.ceiling == (4 / 4 + 2 / 4) / 2  # the late answer names $4305 and count
    assert dma.ceiling_in_budget == (4 / 4 + 0 / 4) / 2  # ... only after the cut
    mode, _ = _concepts(result, "mode_mismatch")
    assert (mode.dialogues, mode.ceiling) == (0, 0.0)
    assert result.budget_tokens == 20
