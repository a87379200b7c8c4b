"""The benchmark after training: the new adapter and its base model, same cases, same strategy
(and stage 1's adapter in a two-stage run).

Each benchmark runs as ``farore eval`` in a child process (the same code as ``pytest
benchmarks/``), so that its progress and summary table show as usual and the training process's
memory is not shared with it; the reports land in the run directory and are compared here.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from farore.report import Report, ReportError, load_report
from farore.train.manifest import CategoryComparison, EvalRecord, StageScore


class BenchmarkError(RuntimeError):
    pass


def run_benchmark(
    model: str, strategy: str, report_dir: Path, cases: Sequence[Path] = (), max_new_tokens: int | None = None
) -> Report:
    command = [sys.executable, "-m", "farore.cli", "eval", "-q"]
    command += ["--model", model, "--prompt-strategy", strategy, "--report-dir", str(report_dir)]
    command += [argument for path in cases for argument in ("--cases", str(path))]
    if max_new_tokens is not None:
        command += ["--max-new-tokens", str(max_new_tokens)]
    status = subprocess.run(command, check=False).returncode
    try:
        return load_report(report_dir / "report.json")
    except (FileNotFoundError, ReportError) as error:
        raise BenchmarkError(f"the benchmark of {model} wrote no usable report (exit status {status}): {error}") from None


def _report_path(report_dir: Path, run_dir: Path) -> str:
    """Where a report lies inside the run directory (the manifest travels with the directory)."""
    return str((report_dir / "report.json").relative_to(run_dir))


def _category_scores(report: Report) -> dict[str, float]:
    return {c.category: c.score for c in report.summary.categories}


@dataclass(frozen=True)
class StageReport:
    """An earlier stage's benchmark report and where it was written."""

    stage: str
    report: Report
    report_dir: Path


def compare(
    strategy: str,
    base: Report,
    adapter: Report,
    base_dir: Path,
    adapter_dir: Path,
    run_dir: Path,
    earlier_stages: Sequence[StageReport] = (),
) -> EvalRecord:
    base_scores = _category_scores(base)
    stage_scores = {s.stage: _category_scores(s.report) for s in earlier_stages}
    return EvalRecord(
        prompt_strategy=strategy,
        base_report=_report_path(base_dir, run_dir),
        adapter_report=_report_path(adapter_dir, run_dir),
        categories=[
            CategoryComparison(
                category=c.category,
                base=base_scores.get(c.category, 0.0),
                adapter=c.score,
                earlier_stages={stage: scores.get(c.category, 0.0) for stage, scores in stage_scores.items()},
            )
            for c in adapter.summary.categories
        ],
        base_overall=base.summary.overall,
        adapter_overall=adapter.summary.overall,
        base_gate=base.summary.gate.passed,
        adapter_gate=adapter.summary.gate.passed,
        earlier_stages=[
            StageScore(
                stage=s.stage,
                report=_report_path(s.report_dir, run_dir),
                overall=s.report.summary.overall,
                gate=s.report.summary.gate.passed,
            )
            for s in earlier_stages
        ],
    )


def comparison_lines(record: EvalRecord) -> list[str]:
    """A table with a column per model (base, each earlier stage, the adapter) and the change from base to adapter."""
    earlier = record.earlier_stages
    columns = ["base", *(s.stage for s in earlier), "adapter"]
    rows = [(c.category, [c.base, *(c.earlier_stages.get(s.stage, 0.0) for s in earlier), c.adapter]) for c in record.categories]
    rows.append(("overall", [record.base_overall, *(s.overall for s in earlier), record.adapter_overall]))
    width = max(len(name) for name, _ in rows)
    lines = [f"benchmark ({record.prompt_strategy}): {'category'.ljust(width)}  {'  '.join(columns)}  change"]
    indent = " " * len(f"benchmark ({record.prompt_strategy}): ")
    for name, scores in rows:
        cells = "  ".join(f"{score:{len(column)}.0%}" for column, score in zip(columns, scores))
        lines.append(f"{indent}{name.ljust(width)}  {cells}  {scores[-1] - scores[0]:+6.0%}")
    gates = {True: "passes", False: "fails"}
    verdicts = [record.base_gate, *(s.gate for s in earlier), record.adapter_gate]
    lines.append(f"{indent}minimum gate: " + ", ".join(f"{column} {gates[passed]}" for column, passed in zip(columns, verdicts)))
    return lines
