"""The strategy matrix: the benchmark for every (model, prompt strategy) pair in one command.

Each run goes through the same path as ``farore eval`` (pytest.main on farore/suite.py with the
options), one after another, and writes its report where ``pytest benchmarks/`` would put it
(reports/MODEL-STRATEGY), so tox environments and the matrix read and write the same files.
Answers come from the response cache whenever they can, so a rerun only generates what changed.
A finished run's report is on disk before the next run starts: an interrupted matrix loses
nothing that had finished, and the comparison covers the runs that did.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from farore.compare import LoadedReport, load_reports
from farore.pytest_plugin import default_report_dir
from farore.report import ReportError

DEFAULT_STRATEGIES = ("none", "baseline", "enhanced")


@dataclass(frozen=True)
class Cell:
    model: str
    strategy: str

    @property
    def report_dir(self) -> Path:
        return default_report_dir(self.model, self.strategy)

    def options(self) -> list[str]:
        return ["--model", self.model, "--prompt-strategy", self.strategy, "--report-dir", str(self.report_dir)]


@dataclass(frozen=True)
class MatrixResult:
    reports: list[LoadedReport]
    #: (cell, why it has no report): a usage error, a crash, an interruption.
    failures: list[tuple[Cell, str]]
    interrupted: bool


def plan(models: Sequence[str], strategies: Sequence[str]) -> list[Cell]:
    return [Cell(model, strategy) for model in models for strategy in strategies]


def _modified(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.exists() else None


def _say(text: str) -> None:
    print(f"farore matrix: {text}", file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}m{seconds:02d}s"


def run_matrix(cells: Sequence[Cell], pytest_args: Sequence[str], run_benchmark: Callable[[list[str]], int]) -> MatrixResult:
    """Run every cell; a cell whose run wrote no new report is a failure, and Ctrl-C stops the rest."""
    finished: list[Cell] = []
    failures: list[tuple[Cell, str]] = []
    started = time.monotonic()
    for index, cell in enumerate(cells):
        elapsed = time.monotonic() - started
        eta = f", ETA {_duration(elapsed / index * (len(cells) - index))}" if index else ""
        _say(f"run {index + 1}/{len(cells)}: --model {cell.model} --prompt-strategy {cell.strategy} (elapsed {_duration(elapsed)}{eta})")
        report = cell.report_dir / "report.json"
        before = _modified(report)
        status = run_benchmark([*cell.options(), *pytest_args])
        if status == pytest.ExitCode.INTERRUPTED:
            failures.append((cell, "interrupted"))
            return MatrixResult(load_reports([c.report_dir for c in finished]) if finished else [], failures, True)
        if _modified(report) in (None, before):
            failures.append((cell, f"no report written (pytest exit status {status})"))
        else:
            finished.append(cell)
    _say(f"{len(finished)}/{len(cells)} runs finished in {_duration(time.monotonic() - started)}")
    return MatrixResult(load_reports([c.report_dir for c in finished]) if finished else [], failures, False)


def existing_reports(cells: Sequence[Cell]) -> list[LoadedReport]:
    """The reports earlier runs left (``--no-run``); a missing one is one error naming the command."""
    for cell in cells:
        if not (cell.report_dir / "report.json").is_file():
            raise ReportError(
                f"{cell.report_dir / 'report.json'}: no such report; run "
                f"`pytest benchmarks/ --model {cell.model} --prompt-strategy {cell.strategy}` (or tox -e {cell.strategy}) first"
            )
    return load_reports([cell.report_dir for cell in cells])
