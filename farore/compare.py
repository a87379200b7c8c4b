"""Side-by-side comparison of benchmark reports, and the regression gate (plain values in, plain values out).

The first report is the reference: every other report gets, per category and overall, its delta
against it, the cases that flipped pass/fail, the concepts newly found or lost, and whether the
delta is larger than its noise.

Noise: a **paired bootstrap over cases** (95% percentile interval of the score difference,
``RESAMPLES`` resamples, seeded, so the same reports always give the same interval). Why this and
not a paired t-test: a case score is a share of four or five concepts, so differences are
discrete, bounded and piled up at zero, with about ten cases per category; the bootstrap assumes
no normal shape. Why paired: both runs answer the same cases, so pairing removes how hard each
case is from the noise and leaves only how the change moved it. Each case enters with its mean
score over its samples, so with ``--samples N`` the sampling noise of every case is inside the
spread of its difference (the clustered bootstrap; resampling the samples as well would count
that noise twice). With one greedy sample per case the interval covers case-to-case variation
only: whether the change helps these kinds of cases broadly, or a few of them. The overall
difference resamples cases within each category and averages the category means, exactly as the
overall score is made (farore.gate). A difference is "better" or "worse" when its interval
excludes zero, else "within noise".

Regression gate (``find_regressions``): the new run regresses when a category that passed its
gate no longer does, the minimum gate passed and no longer does, the overall score drops by more
than the tolerance, or anti-keyword hits rise.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

from farore.gate import MINIMUM
from farore.report import CaseRecord, Report, ReportError, load_report

RESAMPLES = 2000
CONFIDENCE = 0.95
DEFAULT_TOLERANCE = 0.02
OVERALL = "overall"
METHOD = f"paired bootstrap over cases, {CONFIDENCE:.0%} interval, {RESAMPLES} resamples"


@dataclass(frozen=True)
class Run:
    """One compared report, by what it measured."""

    label: str
    path: str
    model: str
    prompt_strategy: str
    scoring: str
    samples: int
    gate_passed: bool
    overall: float
    anti_keyword_count: int
    errored: int
    behaviour_rates: dict[str, float]


@dataclass(frozen=True)
class Cell:
    """One run's result in one category (or overall); score None when the run lacks it."""

    score: float | None
    passed: int = 0
    cases: int = 0
    interval: tuple[float, float] | None = None
    gate_passed: bool | None = None


@dataclass(frozen=True)
class Difference:
    """One run against the reference in one category (or overall).

    ``verdict``: "better" or "worse" when the interval excludes zero, "within noise" when it
    does not, "n/a" when fewer than two cases are paired.
    """

    delta: float
    interval: tuple[float, float] | None
    paired_cases: int
    verdict: str


@dataclass(frozen=True)
class Row:
    category: str
    cells: tuple[Cell, ...]
    #: One per run; None for the reference and where either run lacks the category.
    differences: tuple[Difference | None, ...]


@dataclass(frozen=True)
class Flip:
    case_id: str
    category: str
    before: float
    after: float


@dataclass(frozen=True)
class ConceptChange:
    category: str
    concept: str
    gained: tuple[str, ...]
    lost: tuple[str, ...]


@dataclass(frozen=True)
class Changes:
    """What changed from the reference to one run, case by case."""

    label: str
    fixed: tuple[Flip, ...]
    broken: tuple[Flip, ...]
    concepts: tuple[ConceptChange, ...]
    unpaired: tuple[str, ...]


@dataclass(frozen=True)
class Comparison:
    runs: tuple[Run, ...]
    rows: tuple[Row, ...]
    changes: tuple[Changes, ...]
    method: str = METHOD

    @property
    def reference(self) -> Run:
        return self.runs[0]


@dataclass(frozen=True)
class LoadedReport:
    label: str
    path: Path
    report: Report


# Loading


def report_path(path: Path) -> Path:
    """A report.json, or a report directory holding one."""
    return path / "report.json" if path.is_dir() else path


def _labels(paths: Sequence[Path], reports: Sequence[Report]) -> list[str]:
    """``model / strategy``; where two runs share that, their directory names; else their paths."""
    candidates = [
        [f"{r.run.model} / {r.run.prompt_strategy}" for r in reports],
        [p.parent.name or str(p) for p in paths],
        [str(p) for p in paths],
    ]
    for labels in candidates:
        if len(set(labels)) == len(labels):
            return labels
    return [f"{i + 1}: {p}" for i, p in enumerate(paths)]


def load_reports(paths: Sequence[Path]) -> list[LoadedReport]:
    """Load every report (each failure names its file and field); labels are unique."""
    resolved = [report_path(Path(p)) for p in paths]
    reports = [load_report(p) for p in resolved]
    return [LoadedReport(label, path, report) for label, path, report in zip(_labels(resolved, reports), resolved, reports)]


# Building the comparison


def _run(loaded: LoadedReport) -> Run:
    report = loaded.report
    return Run(
        label=loaded.label,
        path=str(loaded.path),
        model=report.run.model,
        prompt_strategy=report.run.prompt_strategy,
        scoring=report.run.scoring,
        samples=report.run.samples,
        gate_passed=report.summary.gate.passed,
        overall=report.summary.overall,
        anti_keyword_count=report.summary.anti_keyword_count,
        errored=report.summary.errored,
        behaviour_rates=dict(report.summary.behaviour_rates),
    )


def _category_cell(report: Report, category: str) -> Cell:
    for record in report.summary.categories:
        if record.category == category:
            return Cell(record.score, record.passed, record.cases, record.interval, record.gate_passed)
    return Cell(None)


def _overall_cell(report: Report) -> Cell:
    categories = report.summary.categories
    return Cell(
        report.summary.overall,
        sum(c.passed for c in categories),
        sum(c.cases for c in categories),
        None,
        report.summary.gate.passed,
    )


def _case_scores(report: Report) -> dict[str, dict[str, float]]:
    """category -> case id -> the case's mean score over its samples."""
    scores: dict[str, dict[str, float]] = {}
    for case in report.cases:
        scores.setdefault(case.category, {})[case.case_id] = case.score
    return scores


def _quantile(ordered: Sequence[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def paired_bootstrap(differences: dict[str, Sequence[float]], resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float] | None:
    """Percentile interval of the mean of category means of paired case differences.

    ``differences`` maps each category to its cases' (new - old) scores; cases are resampled with
    replacement within their category. None when fewer than two cases are paired in all.
    """
    groups = [list(d) for d in differences.values() if d]
    if sum(len(g) for g in groups) < 2:
        return None
    rng = random.Random(seed)
    statistics = sorted(fmean(fmean(rng.choices(g, k=len(g))) for g in groups) for _ in range(resamples))
    tail = (1 - CONFIDENCE) / 2
    return (_quantile(statistics, tail), _quantile(statistics, 1 - tail))


def _paired_differences(reference: Report, other: Report, categories: Sequence[str]) -> dict[str, list[float]]:
    old, new = _case_scores(reference), _case_scores(other)
    return {
        category: [new[category][case] - score for case, score in old.get(category, {}).items() if case in new.get(category, {})]
        for category in categories
    }


def _verdict_of(interval: tuple[float, float] | None) -> str:
    if interval is None:
        return "n/a"
    return "better" if interval[0] > 0 else "worse" if interval[1] < 0 else "within noise"


def _difference(delta: float, differences: dict[str, list[float]]) -> Difference:
    interval = paired_bootstrap(differences)
    return Difference(delta, interval, sum(len(d) for d in differences.values()), _verdict_of(interval))


def _row(name: str, cells: tuple[Cell, ...], reports: Sequence[Report], categories: Sequence[str]) -> Row:
    """One row; each run's difference pairs the cases of ``categories`` with the reference's."""
    differences: list[Difference | None] = [None]
    for report, cell in zip(reports[1:], cells[1:]):
        if cell.score is None or cells[0].score is None:
            differences.append(None)
        else:
            differences.append(_difference(cell.score - cells[0].score, _paired_differences(reports[0], report, categories)))
    return Row(name, cells, tuple(differences))


def _rows(reports: Sequence[Report]) -> tuple[Row, ...]:
    categories = list(dict.fromkeys(c.category for r in reports for c in r.summary.categories))
    rows = [_row(c, tuple(_category_cell(r, c) for r in reports), reports, [c]) for c in categories]
    rows.append(_row(OVERALL, tuple(_overall_cell(r) for r in reports), reports, categories))
    return tuple(rows)


def found_concepts(case: CaseRecord) -> set[str]:
    """Concepts found in at least half of the case's answered (non-errored) samples."""
    answered = [s for s in case.samples if not s.error]
    return {
        concept
        for concept in dict.fromkeys(c for s in answered for c in s.found)
        if 2 * sum(concept in s.found for s in answered) >= len(answered)
    }


def _changes(reference: LoadedReport, other: LoadedReport) -> Changes:
    old = {c.case_id: c for c in reference.report.cases}
    new = {c.case_id: c for c in other.report.cases}
    paired = [case_id for case_id in old if case_id in new]
    fixed, broken = [], []
    concept_cases: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for case_id in paired:
        before, after = old[case_id], new[case_id]
        flip = Flip(case_id, after.category, before.score, after.score)
        if after.passed and not before.passed:
            fixed.append(flip)
        elif before.passed and not after.passed:
            broken.append(flip)
        found_before, found_after = found_concepts(before), found_concepts(after)
        for concept in sorted(found_after - found_before):
            concept_cases.setdefault((after.category, concept), ([], []))[0].append(case_id)
        for concept in sorted(found_before - found_after):
            concept_cases.setdefault((after.category, concept), ([], []))[1].append(case_id)
    concepts = tuple(
        ConceptChange(category, concept, tuple(gained), tuple(lost))
        for (category, concept), (gained, lost) in sorted(concept_cases.items())
    )
    unpaired = tuple(sorted(set(old).symmetric_difference(new)))
    return Changes(other.label, tuple(fixed), tuple(broken), concepts, unpaired)


def compare(loaded: Sequence[LoadedReport]) -> Comparison:
    """Compare two or more reports; the first is the reference."""
    if len(loaded) < 2:
        raise ReportError("a comparison needs at least two reports")
    return Comparison(
        runs=tuple(_run(item) for item in loaded),
        rows=_rows([item.report for item in loaded]),
        changes=tuple(_changes(loaded[0], item) for item in loaded[1:]),
    )


# The regression gate


def find_regressions(old: Report, new: Report, tolerance: float = DEFAULT_TOLERANCE) -> list[str]:
    """Why ``new`` is a regression from ``old``; empty when it is not."""
    reasons = []
    after = {c.category: c for c in new.summary.categories}
    for previous in old.summary.categories:
        current = after.get(previous.category)
        if previous.gate_passed and current is None:
            reasons.append(f"{previous.category}: passed its gate before ({previous.score:.1%}), missing now")
        elif previous.gate_passed and not current.gate_passed:
            reasons.append(f"{previous.category}: passed its gate before ({previous.score:.1%}), fails now ({current.score:.1%})")
    if old.summary.gate.passed and not new.summary.gate.passed:
        reasons.append(f"{MINIMUM.name} gate: passed before, fails now")
    drop = old.summary.overall - new.summary.overall
    if drop > tolerance:
        reasons.append(
            f"overall dropped {drop * 100:.1f} points ({old.summary.overall:.1%} -> {new.summary.overall:.1%}), "
            f"more than the {tolerance * 100:.1f}-point tolerance"
        )
    if new.summary.anti_keyword_count > old.summary.anti_keyword_count:
        reasons.append(f"anti-keyword hits rose from {old.summary.anti_keyword_count} to {new.summary.anti_keyword_count}")
    return reasons


# Rendering: one list of sections, rendered as Markdown here and as HTML by farore.charts


@dataclass(frozen=True)
class Section:
    title: str
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    notes: tuple[str, ...] = ()


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _points(value: float) -> str:
    return f"{value * 100:+.1f}"


def _cell_text(cell: Cell) -> str:
    if cell.score is None:
        return "-"
    text = f"{cell.score:.1%} ({cell.passed}/{cell.cases})"
    if cell.interval:
        text += f" [{cell.interval[0]:.0%}-{cell.interval[1]:.0%}]"
    return text


def _difference_text(difference: Difference | None) -> str:
    if difference is None:
        return "-"
    if difference.interval is None:
        return _points(difference.delta)
    low, high = difference.interval
    return f"{_points(difference.delta)} [{_points(low)}, {_points(high)}] {difference.verdict}"


def _pass_fail(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def _gate_change(new: bool, old: bool) -> str:
    return "lost" if old and not new else "gained" if new and not old else ""


def _count_change(new: int, old: int) -> str:
    return f"{new - old:+d}"


def _run_row(name: str, values: Sequence, show, change) -> tuple[str, ...]:
    """A per-run row: each run's value, and beside every run but the reference its change."""
    cells = [name, show(values[0])]
    for value in values[1:]:
        cells += [show(value), change(value, values[0])]
    return tuple(cells)


def _score_section(comparison: Comparison) -> Section:
    runs = comparison.runs
    header = ["category", runs[0].label]
    for run in runs[1:]:
        header += [run.label, "delta"]
    rows = []
    for row in comparison.rows:
        cells = [row.category, _cell_text(row.cells[0])]
        for cell, difference in zip(row.cells[1:], row.differences[1:]):
            cells += [_cell_text(cell), _difference_text(difference)]
        rows.append(tuple(cells))

    rows.append(_run_row("minimum gate", [run.gate_passed for run in runs], _pass_fail, _gate_change))
    rows.append(_run_row("anti-keyword hits", [run.anti_keyword_count for run in runs], str, _count_change))
    rows.append(_run_row("errored cases", [run.errored for run in runs], str, _count_change))
    goals = list(dict.fromkeys(goal for run in runs for goal in run.behaviour_rates))
    for goal in goals:
        rates = [run.behaviour_rates.get(goal, 0.0) for run in runs]
        rows.append(_run_row(f"behaviour: {goal}", rates, _percent, lambda new, old: _points(new - old)))
    notes = (
        "Scores: mean case score (cases passed/total) [95% interval over samples when the run has repeats].",
        f"Deltas against the reference, in points: delta [95% interval] verdict, by {comparison.method}.",
    )
    return Section("Scores", tuple(header), tuple(rows), notes)


def _runs_section(comparison: Comparison) -> Section:
    header = ("run", "model", "prompt strategy", "scoring", "samples", "report")
    rows = tuple((r.label, r.model, r.prompt_strategy, r.scoring, str(r.samples), r.path) for r in comparison.runs)
    return Section("Runs", header, rows, (f"Reference: {comparison.reference.label}",))


def _flip_line(kind: str, flips: Sequence[Flip]) -> str:
    listed = ", ".join(f"{f.case_id} ({f.before:.0%} -> {f.after:.0%})" for f in flips) or "none"
    return f"{kind}: {listed}"


def _changes_section(comparison: Comparison, changes: Changes) -> Section:
    notes = [_flip_line("fixed (fail -> pass)", changes.fixed), _flip_line("broken (pass -> fail)", changes.broken)]
    gained = [f"{c.category} {c.concept} in {len(c.gained)} ({', '.join(c.gained)})" for c in changes.concepts if c.gained]
    lost = [f"{c.category} {c.concept} in {len(c.lost)} ({', '.join(c.lost)})" for c in changes.concepts if c.lost]
    notes.append("concepts newly found: " + ("; ".join(gained) or "none"))
    notes.append("concepts lost: " + ("; ".join(lost) or "none"))
    if changes.unpaired:
        notes.append(f"cases in only one of the two reports (not compared): {', '.join(changes.unpaired)}")
    return Section(f"{changes.label} against {comparison.reference.label}", notes=tuple(notes))


def regression_section(regressions: dict[str, list[str]], baseline: str) -> Section:
    """The regression gate's verdict for each new run against the baseline."""
    notes = [f"{label}: REGRESSION: {reason}" for label, reasons in regressions.items() for reason in reasons]
    notes += [f"{label}: no regression" for label, reasons in regressions.items() if not reasons]
    return Section(f"Regression gate against {baseline}", notes=tuple(notes))


def sections(comparison: Comparison, regressions: dict[str, list[str]] | None = None) -> list[Section]:
    """Everything a rendering shows, in order; ``regressions`` (label -> reasons) when gated."""
    return [
        _runs_section(comparison),
        _score_section(comparison),
        *(_changes_section(comparison, changes) for changes in comparison.changes),
        *([regression_section(regressions, comparison.reference.label)] if regressions is not None else []),
    ]


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|")


def comparison_json(comparison: Comparison, regressions: dict[str, list[str]] | None = None) -> str:
    return json.dumps({"comparison": dataclasses.asdict(comparison), "regressions": regressions}, indent=2)


def render_markdown(comparison: Comparison, regressions: dict[str, list[str]] | None = None) -> str:
    lines = ["# farore comparison", ""]
    for section in sections(comparison, regressions):
        lines += [f"## {section.title}", ""]
        if section.header:
            lines.append("| " + " | ".join(map(_markdown_cell, section.header)) + " |")
            lines.append("|" + "|".join("---" for _ in section.header) + "|")
            lines += ["| " + " | ".join(map(_markdown_cell, row)) + " |" for row in section.rows]
            lines.append("")
        lines += [f"- {note}" for note in section.notes]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
