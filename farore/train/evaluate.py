"""The benchmark after training: the new adapter and its base model, same cases, same strategy.

Each benchmark runs as ``farore eval`` in a child process (the same code as ``pytest
benchmarks/``), so that its progress and summary table show as usual and the training process's
memory is not shared with it; the reports land in the run directory and are compared here.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from farore.report import Report, ReportError, load_report
from farore.train.manifest import CategoryComparison, EvalRecord


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


def compare(strategy: str, base: Report, adapter: Report, base_dir: Path, adapter_dir: Path, run_dir: Path) -> EvalRecord:
    base_scores = {c.category: c.score for c in base.summary.categories}
    return EvalRecord(
        prompt_strategy=strategy,
        base_report=str((base_dir / "report.json").relative_to(run_dir)),
        adapter_report=str((adapter_dir / "report.json").relative_to(run_dir)),
        categories=[
            CategoryComparison(category=c.category, base=base_scores.get(c.category, 0.0), adapter=c.score)
            for c in adapter.summary.categories
        ],
        base_overall=base.summary.overall,
        adapter_overall=adapter.summary.overall,
        base_gate=base.summary.gate.passed,
        adapter_gate=adapter.summary.gate.passed,
    )


def comparison_lines(record: EvalRecord) -> list[str]:
    rows = [(c.category, c.base, c.adapter) for c in record.categories]
    rows.append(("overall", record.base_overall, record.adapter_overall))
    width = max(len(name) for name, _, _ in rows)
    lines = [f"benchmark ({record.prompt_strategy}): {'category'.ljust(width)}  base  adapter  change"]
    indent = " " * len(f"benchmark ({record.prompt_strategy}): ")
    lines += [f"{indent}{name.ljust(width)}  {b:4.0%}  {a:7.0%}  {a - b:+6.0%}" for name, b, a in rows]
    gates = {True: "passes", False: "fails"}
    lines.append(f"{indent}minimum gate: base {gates[record.base_gate]}, adapter {gates[record.adapter_gate]}")
    return lines
