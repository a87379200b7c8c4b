"""``farore compare`` (side by side, the regression gate) and ``farore matrix`` (run, then compare).

Exit status: 0 when all is well; 1 when ``--fail-on-regression`` finds a regression or a matrix
run wrote no report; 2 for bad input (a missing or invalid report, a bad option); 130 when a
matrix is interrupted (its finished runs are still compared).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from farore.charts import ChartError, write_charts
from farore.compare import (
    DEFAULT_TOLERANCE,
    Comparison,
    LoadedReport,
    compare,
    comparison_json,
    find_regressions,
    load_reports,
    render_markdown,
)
from farore.matrix import DEFAULT_STRATEGIES, existing_reports, plan, run_matrix
from farore.report import ReportError, atomic_write_text

USAGE_ERROR = 2
INTERRUPTED = 130


def _tolerance(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text}: give the tolerance as a fraction of 1, e.g. 0.02 for 2 points")
    return value


def _add_output_options(parser: argparse.ArgumentParser, default_dir: Path | None) -> None:
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON instead of Markdown")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=default_dir,
        help="write comparison.md, comparison.json, comparison.png and comparison.html here"
        + (f" (default: {default_dir})" if default_dir else ""),
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    compare_parser = subparsers.add_parser(
        "compare",
        help="compare two or more reports side by side (the first, or --baseline, is the reference)",
        description="Side-by-side comparison of benchmark reports; with --fail-on-regression, the regression gate.",
    )
    compare_parser.add_argument("reports", nargs="+", type=Path, help="report.json files or report directories")
    compare_parser.add_argument("--baseline", type=Path, help="the reference report (OLD); the reports after it are the new runs")
    compare_parser.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit 1 when a new run loses a category's gate or the minimum gate, drops overall by more than "
        "--tolerance, or gains anti-keyword hits",
    )
    compare_parser.add_argument("--tolerance", type=_tolerance, default=DEFAULT_TOLERANCE, help=f"overall drop allowed (default {DEFAULT_TOLERANCE})")
    _add_output_options(compare_parser, None)
    compare_parser.set_defaults(func=_compare)

    matrix_parser = subparsers.add_parser(
        "matrix",
        help="run the benchmark for several strategies (and models), then compare the reports",
        description="Run the benchmark for every model x strategy (answers reused from the cache), then compare. "
        "Benchmark options for every run go after --, e.g. farore matrix --strategies none enhanced -- --samples 3",
    )
    matrix_parser.add_argument("--models", nargs="+", default=["embedded"], help="models, as for --model (default: embedded)")
    matrix_parser.add_argument("--strategies", nargs="+", default=list(DEFAULT_STRATEGIES), help="prompt strategies (default: none baseline enhanced)")
    matrix_parser.add_argument("--no-run", action="store_true", help="run nothing: compare the reports earlier runs left")
    _add_output_options(matrix_parser, Path("reports") / "comparison")
    matrix_parser.add_argument("pytest_args", nargs="*", help=argparse.SUPPRESS)
    matrix_parser.set_defaults(func=_matrix)


def _error(command: str, message: str) -> int:
    print(f"farore {command}: {message}", file=sys.stderr)
    return USAGE_ERROR


def _publish(comparison: Comparison, regressions: dict[str, list[str]] | None, args: argparse.Namespace) -> str | None:
    """Print the comparison and write its files; returns the chart error, if charts failed."""
    markdown = render_markdown(comparison, regressions)
    as_json = comparison_json(comparison, regressions)
    print(as_json if args.json else markdown.rstrip("\n"))
    if args.output_dir is None:
        return None
    atomic_write_text(args.output_dir / "comparison.md", markdown)
    atomic_write_text(args.output_dir / "comparison.json", as_json + "\n")
    written = [args.output_dir / "comparison.md", args.output_dir / "comparison.json"]
    try:
        written += write_charts(comparison, args.output_dir, regressions)
    except ChartError as error:
        return str(error)
    finally:
        for path in written:
            print(f"comparison: {path}", file=sys.stderr)
    return None


def _gate(loaded: Sequence[LoadedReport], tolerance: float) -> dict[str, list[str]]:
    baseline = loaded[0].report
    return {item.label: find_regressions(baseline, item.report, tolerance) for item in loaded[1:]}


def _compare(args: argparse.Namespace) -> int:
    paths = [args.baseline, *args.reports] if args.baseline else list(args.reports)
    if len(paths) < 2:
        return _error("compare", "give at least two reports (or --baseline OLD NEW)")
    try:
        loaded = load_reports(paths)
    except ReportError as error:
        return _error("compare", str(error))
    regressions = _gate(loaded, args.tolerance) if args.fail_on_regression else None
    chart_error = _publish(compare(loaded), regressions, args)
    if chart_error:
        return _error("compare", chart_error)
    return 1 if regressions and any(regressions.values()) else 0


def _matrix(args: argparse.Namespace) -> int:
    from farore.cli import run_benchmark

    cells = plan(args.models, args.strategies)
    try:
        if args.no_run:
            loaded, failures, interrupted = existing_reports(cells), [], False
        else:
            result = run_matrix(cells, args.pytest_args, run_benchmark)
            loaded, failures, interrupted = result.reports, result.failures, result.interrupted
    except ReportError as error:
        return _error("matrix", str(error))
    for cell, why in failures:
        print(f"farore matrix: --model {cell.model} --prompt-strategy {cell.strategy}: {why}", file=sys.stderr)
    if len(loaded) >= 2:
        chart_error = _publish(compare(loaded), None, args)
        if chart_error:
            return _error("matrix", chart_error)
    else:
        print(f"farore matrix: {len(loaded)} report(s) finished; a comparison needs two", file=sys.stderr)
    if interrupted:
        return INTERRUPTED
    return 1 if failures else 0
