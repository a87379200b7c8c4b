"""Category scores and the pass/fail gate (pure functions over case outcomes).

A category's score is the mean of its cases' scores; the overall score is the mean of the
category scores, so that every category weighs the same whatever its number of cases. With
repeated samples, each category also gets a 95% interval: the normal approximation over the
per-sample category scores (mean +- 1.96 * sd / sqrt(n)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean, stdev

from farore.behaviour import BEHAVIOUR_GOALS
from farore.runner import CaseOutcome


@dataclass(frozen=True)
class GatePolicy:
    name: str
    category_threshold: float
    overall_threshold: float
    allowed_failing_categories: int
    zero_anti_keywords: bool = False
    behaviour_threshold: float | None = None


MINIMUM = GatePolicy("minimum", 0.60, 0.70, allowed_failing_categories=1)
STRETCH = GatePolicy("stretch", 0.80, 0.85, allowed_failing_categories=0, zero_anti_keywords=True, behaviour_threshold=0.80)


@dataclass(frozen=True)
class CategoryScore:
    category: str
    cases: int
    passed: int
    errored: int
    score: float
    interval: tuple[float, float] | None


@dataclass(frozen=True)
class GateResult:
    policy: GatePolicy
    passed: bool
    categories_passing: int
    categories_total: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Summary:
    categories: tuple[CategoryScore, ...]
    overall: float
    anti_keyword_count: int
    errored: int
    behaviour_rates: dict[str, float]
    gate: GateResult
    stretch: GateResult


def _interval(outcomes: Sequence[CaseOutcome]) -> tuple[float, float] | None:
    sample_count = len(outcomes[0].samples)
    if sample_count < 2:
        return None
    per_sample = [fmean(o.samples[i].score for o in outcomes) for i in range(sample_count)]
    mean, half = fmean(per_sample), 1.96 * stdev(per_sample) / math.sqrt(sample_count)
    return (max(0.0, mean - half), min(1.0, mean + half))


def category_scores(outcomes: Sequence[CaseOutcome]) -> tuple[CategoryScore, ...]:
    grouped: dict[str, list[CaseOutcome]] = {}
    for outcome in outcomes:
        grouped.setdefault(outcome.category, []).append(outcome)
    return tuple(
        CategoryScore(
            category=category,
            cases=len(group),
            passed=sum(o.passed for o in group),
            errored=sum(bool(o.errors) for o in group),
            score=fmean(o.score for o in group),
            interval=_interval(group),
        )
        for category, group in grouped.items()
    )


def behaviour_rates(outcomes: Sequence[CaseOutcome]) -> dict[str, float]:
    samples = [s for o in outcomes for s in o.samples if not s.error]
    if not samples:
        return {goal: 0.0 for goal in BEHAVIOUR_GOALS}
    return {goal: fmean(s.behaviour[goal] for s in samples) for goal in BEHAVIOUR_GOALS}


def evaluate_gate(
    policy: GatePolicy,
    categories: Sequence[CategoryScore],
    overall: float,
    anti_keyword_count: int,
    behaviour: dict[str, float],
) -> GateResult:
    passing = sum(c.score >= policy.category_threshold for c in categories)
    required = max(0, len(categories) - policy.allowed_failing_categories)
    reasons = []
    if passing < required:
        reasons.append(f"{passing}/{len(categories)} categories >= {policy.category_threshold:.0%} (need {required})")
    if overall < policy.overall_threshold:
        reasons.append(f"overall {overall:.1%} < {policy.overall_threshold:.0%}")
    if policy.zero_anti_keywords and anti_keyword_count:
        reasons.append(f"{anti_keyword_count} anti-keyword hit(s)")
    if policy.behaviour_threshold is not None:
        reasons.extend(
            f"{goal} {rate:.0%} < {policy.behaviour_threshold:.0%}"
            for goal, rate in behaviour.items()
            if rate < policy.behaviour_threshold
        )
    return GateResult(policy, not reasons, passing, len(categories), tuple(reasons))


def summarize(outcomes: Sequence[CaseOutcome]) -> Summary:
    categories = category_scores(outcomes)
    overall = fmean(c.score for c in categories) if categories else 0.0
    anti = sum(len(s.anti_keywords) for o in outcomes for s in o.samples)
    behaviour = behaviour_rates(outcomes)
    return Summary(
        categories=categories,
        overall=overall,
        anti_keyword_count=anti,
        errored=sum(bool(o.errors) for o in outcomes),
        behaviour_rates=behaviour,
        gate=evaluate_gate(MINIMUM, categories, overall, anti, behaviour),
        stretch=evaluate_gate(STRETCH, categories, overall, anti, behaviour),
    )
