"""Comparisons and the regression gate, over reports made by real runs of the scripted backend."""

import json
import os
import subprocess
import sys
from pathlib import Path
from statistics import fmean

import pytest
import yaml
from conftest import CATEGORIES, FULL

from farore.backends.scripted import ScriptedBackend
from farore.cases import load_cases
from farore.cli import main
from farore.compare import (
    compare,
    find_regressions,
    load_reports,
    paired_bootstrap,
    render_markdown,
)
from farore.gate import summarize
from farore.prompts import load_strategy
from farore.report import RunInfo, build_report, load_report, write_report
from farore.runner import Runner


@pytest.fixture
def cases(tmp_path: Path):
    directory = tmp_path / "cases"
    directory.mkdir()
    for category, concepts in CATEGORIES.items():
        document = {
            "category": category,
            "concepts": concepts,
            "cases": [{"id": f"{category}-{n}", "prompt": f"[{category}-{n}] find the bug"} for n in (1, 2)],
        }
        (directory / f"{category}.yaml").write_text(yaml.safe_dump(document))
    return load_cases(directory)


@pytest.fixture
def make_report(cases, tmp_path: Path):
    """Answer the cases with the scripted backend (FULL answers unless overridden), write the report."""

    def make(name: str, overrides: dict[str, str] | None = None, samples: int = 1, strategy: str = "none") -> Path:
        answers = {f"{c}-{n}": text for c, text in FULL.items() for n in (1, 2)} | (overrides or {})
        backend = ScriptedBackend(rules=[(f"[{case_id}]", text, None) for case_id, text in answers.items()])
        runner = Runner(backend, load_strategy(strategy), samples=samples, show_progress=False)
        outcomes = runner.run(cases)
        run = RunInfo(
            model="scripted",
            backend="scripted",
            prompt_strategy=strategy,
            scoring="whole-term",
            samples=samples,
            settings={},
            cases_source=["cases"],
        )
        json_path, _ = write_report(build_report(run, cases, outcomes, summarize(outcomes)), tmp_path / name)
        return json_path

    return make


def _row(comparison, category):
    return next(row for row in comparison.rows if row.category == category)


def test_comparison_has_deltas_flips_concepts_and_counts(make_report):
    old = make_report("old", {"dma_errors-2": "nothing to see"})
    new = make_report("new", {"stack_corruption-1": "the stack", "register_clobbering-2": FULL["register_clobbering"] + " I'm not sure."})
    comparison = compare(load_reports([old, new]))
    old_report, new_report = load_report(old), load_report(new)

    def category_score(report, name):
        return next(c.score for c in report.summary.categories if c.category == name)

    for category in CATEGORIES:
        assert _row(comparison, category).differences[1].delta == pytest.approx(
            category_score(new_report, category) - category_score(old_report, category)
        )
    assert _row(comparison, "overall").differences[1].delta == pytest.approx(new_report.summary.overall - old_report.summary.overall)

    changes = comparison.changes[0]
    assert [f.case_id for f in changes.fixed] == ["dma_errors-2"]
    assert sorted(f.case_id for f in changes.broken) == ["register_clobbering-2", "stack_corruption-1"]
    gained = {(c.category, c.concept): c.gained for c in changes.concepts if c.gained}
    lost = {(c.category, c.concept): c.lost for c in changes.concepts if c.lost}
    assert gained == {("dma_errors", concept): ("dma_errors-2",) for concept in ("$4305", "$4306", "length", "count")}
    assert lost == {("stack_corruption", concept): ("stack_corruption-1",) for concept in ("PHA/PLA", "balance", "imbalance")}

    assert [run.anti_keyword_count for run in comparison.runs] == [0, 1]
    assert comparison.runs[1].behaviour_rates == new_report.summary.behaviour_rates
    markdown = render_markdown(comparison)
    assert "| anti-keyword hits | 0 | 1 | +1 |" in markdown
    assert "fixed (fail -> pass): dma_errors-2 (0% -> 100%)" in markdown
    assert "concepts lost: stack_corruption PHA/PLA in 1 (stack_corruption-1)" in markdown


def test_runs_sharing_model_and_strategy_are_labelled_by_directory(make_report):
    comparison = compare(load_reports([make_report("before"), make_report("after").parent]))
    assert [run.label for run in comparison.runs] == ["before", "after"]


def test_repeated_samples_show_intervals(make_report):
    comparison = compare(load_reports([make_report("one"), make_report("three", samples=3)]))
    cells = _row(comparison, "dma_errors").cells
    assert cells[0].interval is None and cells[1].interval is not None
    assert comparison.runs[1].samples == 3
    assert "100.0% (2/2) [100%-100%]" in render_markdown(comparison)


def test_bootstrap_interval_is_degenerate_when_every_case_moved_alike():
    assert paired_bootstrap({"a": [0.2] * 6}) == pytest.approx((0.2, 0.2))


def test_bootstrap_says_noise_when_cases_disagree_and_signal_when_they_agree():
    noisy = paired_bootstrap({"a": [0.4, -0.4, 0.2, -0.2, 0.0, 0.1, -0.1, 0.3, -0.3, 0.0]})
    assert noisy[0] < 0 < noisy[1]
    steady = paired_bootstrap({"a": [0.4, 0.2, 0.25, 0.3, 0.1, 0.2, 0.35, 0.15, 0.2, 0.3]})
    assert 0 < steady[0] < fmean([0.4, 0.2, 0.25, 0.3, 0.1, 0.2, 0.35, 0.15, 0.2, 0.3]) < steady[1]
    assert paired_bootstrap({"a": [0.4, -0.1, 0.2]}, seed=7) == paired_bootstrap({"a": [0.4, -0.1, 0.2]}, seed=7)
    assert paired_bootstrap({"a": [0.3]}) is None


def test_overall_bootstrap_averages_category_means_not_cases():
    # One category of 1 case moved by +1, one of 9 cases by 0: overall moves by 0.5, not 0.1.
    low, high = paired_bootstrap({"small": [1.0], "large": [0.0] * 9})
    assert low == high == pytest.approx(0.5)


def test_regression_gate_names_every_regression(make_report):
    old = load_report(make_report("old"))
    new = load_report(make_report("new", {"stack_corruption-1": "nothing", "stack_corruption-2": "I'm not sure."}))
    reasons = find_regressions(old, new)
    drop = old.summary.overall - new.summary.overall
    assert reasons == [
        "stack_corruption: passed its gate before (100.0%), fails now (0.0%)",
        f"overall dropped {drop * 100:.1f} points ({old.summary.overall:.1%} -> {new.summary.overall:.1%}), more than the 2.0-point tolerance",
        "anti-keyword hits rose from 0 to 1",
    ]
    assert find_regressions(new, old) == []


def test_regression_gate_notices_a_lost_minimum_gate(make_report):
    old = load_report(make_report("old", {"dma_errors-1": "nothing", "dma_errors-2": "nothing"}))
    new = load_report(make_report("new", {f"{c}-{n}": "nothing" for c in ("dma_errors", "mode_mismatch") for n in (1, 2)}))
    assert "minimum gate: passed before, fails now" in find_regressions(old, new)


def test_overall_drop_within_tolerance_is_no_regression(make_report):
    old = load_report(make_report("old"))
    new = load_report(make_report("new", {"mode_mismatch-1": "**Bug: mode mismatch** REP leaves A 16-bit, 8-bit store."}))
    drop = old.summary.overall - new.summary.overall
    assert 0 < drop < 0.05 and all(c.gate_passed for c in new.summary.categories)
    assert find_regressions(old, new, tolerance=0.05) == []
    expected = (
        f"overall dropped {drop * 100:.1f} points ({old.summary.overall:.1%} -> {new.summary.overall:.1%}), "
        f"more than the {drop * 50:.1f}-point tolerance"
    )
    assert find_regressions(old, new, tolerance=drop / 2) == [expected]


def test_compare_command_fails_on_a_regression_and_passes_an_improvement(make_report, capsys):
    good = make_report("good")
    bad = make_report("bad", {"stack_corruption-1": "nothing", "stack_corruption-2": "nothing"})
    assert main(["compare", "--baseline", str(good), str(bad), "--fail-on-regression"]) == 1
    out = capsys.readouterr().out
    assert "- bad: REGRESSION: stack_corruption: passed its gate before (100.0%), fails now (0.0%)" in out
    assert main(["compare", "--baseline", str(bad), str(good), "--fail-on-regression"]) == 0
    assert "- good: no regression" in capsys.readouterr().out
    assert main(["compare", "--baseline", str(good), str(bad)]) == 0  # without the flag: information only


def test_compare_command_json_and_output_files(make_report, tmp_path, capsys):
    old, new = make_report("old", {"dma_errors-1": "nothing"}), make_report("new")
    assert main(["compare", str(old.parent), str(new), "--json", "--output-dir", str(tmp_path / "cmp")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [run["label"] for run in printed["comparison"]["runs"]] == ["old", "new"]
    dma = next(row for row in printed["comparison"]["rows"] if row["category"] == "dma_errors")
    assert dma["differences"][1]["delta"] == pytest.approx(0.5)
    assert sorted(p.name for p in (tmp_path / "cmp").iterdir()) == ["comparison.html", "comparison.json", "comparison.md", "comparison.png"]
    assert json.loads((tmp_path / "cmp" / "comparison.json").read_text()) == printed
    assert (tmp_path / "cmp" / "comparison.md").read_text().startswith("# farore comparison")


def test_bad_report_is_one_error_naming_file_and_field(make_report, tmp_path, capsys):
    broken = tmp_path / "broken.json"
    data = json.loads(make_report("ok").read_text())
    del data["summary"]["overall"]
    broken.write_text(json.dumps(data))
    assert main(["compare", str(make_report("ok")), str(broken)]) == 2
    assert capsys.readouterr().err == f"farore compare: {broken}: field 'summary.overall': Field required\n"
    assert main(["compare", str(broken.parent / "missing.json"), str(broken)]) == 2
    assert capsys.readouterr().err == f"farore compare: {broken.parent / 'missing.json'}: no such report\n"
    assert main(["compare", str(make_report("ok"))]) == 2
    assert "at least two reports" in capsys.readouterr().err


def test_tolerance_must_be_a_fraction(make_report, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", str(make_report("a")), str(make_report("b")), "--tolerance", "2"])
    assert exit_info.value.code == 2
    assert "give the tolerance as a fraction of 1" in capsys.readouterr().err


# The strategy matrix, end to end through the real command (each run is pytest.main on the suite).


@pytest.fixture
def matrix_dir(tmp_path: Path, cases):
    (tmp_path / "weak.yaml").write_text(yaml.safe_dump({"default": "The stack is in 16-bit mode."}))
    (tmp_path / "strong.yaml").write_text(yaml.safe_dump({"default": " ".join(FULL.values())}))
    return tmp_path


def _farore(directory: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FARORE_HOME": str(directory / "home")}
    command = [sys.executable, "-m", "farore.cli", *args]
    return subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_matrix_runs_every_model_and_strategy_then_compares(matrix_dir):
    result = _farore(
        matrix_dir, "matrix", "--models", "scripted:weak.yaml", "scripted:strong.yaml", "--strategies", "none", "enhanced", "--", "--cases", "cases", "-q"
    )
    assert result.returncode == 0, result.stderr
    directories = ["scripted_weak.yaml-none", "scripted_weak.yaml-enhanced", "scripted_strong.yaml-none", "scripted_strong.yaml-enhanced"]
    reports = [load_report(matrix_dir / "reports" / d / "report.json") for d in directories]
    assert [(r.run.model, r.run.prompt_strategy) for r in reports] == [
        ("scripted:weak.yaml", "none"),
        ("scripted:weak.yaml", "enhanced"),
        ("scripted:strong.yaml", "none"),
        ("scripted:strong.yaml", "enhanced"),
    ]
    assert "farore matrix: run 4/4: --model scripted:strong.yaml --prompt-strategy enhanced" in result.stderr
    written = json.loads((matrix_dir / "reports" / "comparison" / "comparison.json").read_text())
    overall = next(row for row in written["comparison"]["rows"] if row["category"] == "overall")
    assert [cell["score"] for cell in overall["cells"]] == [pytest.approx(r.summary.overall) for r in reports]
    assert (matrix_dir / "reports" / "comparison" / "comparison.png").stat().st_size > 0

    assert [r.summary.cached_answers for r in reports] == [0, 0, 0, 0]

    rerun = _farore(matrix_dir, "matrix", "--models", "scripted:weak.yaml", "--strategies", "none", "enhanced", "--", "--cases", "cases", "-q")
    assert rerun.returncode == 0, rerun.stderr
    replayed = [load_report(matrix_dir / "reports" / d / "report.json") for d in directories[:2]]
    assert [r.summary.cached_answers for r in replayed] == [10, 10]  # every answer from the cache
    assert [r.summary.overall for r in replayed] == [r.summary.overall for r in reports[:2]]

    again = _farore(matrix_dir, "matrix", "--no-run", "--models", "scripted:weak.yaml", "--strategies", "none", "enhanced")
    assert again.returncode == 0, again.stderr
    assert "| scripted:weak.yaml / none | scripted:weak.yaml | none |" in again.stdout


def test_matrix_keeps_going_past_a_broken_model_and_says_so(matrix_dir):
    result = _farore(matrix_dir, "matrix", "--models", "scripted:weak.yaml", "nonsense", "--strategies", "none", "baseline", "--", "--cases", "cases", "-q")
    assert result.returncode == 1
    assert "farore matrix: --model nonsense --prompt-strategy none: no report written (pytest exit status 4)" in result.stderr
    assert "| scripted:weak.yaml / baseline |" in result.stdout
    missing = _farore(matrix_dir, "matrix", "--no-run", "--models", "nonsense", "--strategies", "none", "baseline")
    assert missing.returncode == 2
    assert missing.stderr.startswith("farore matrix: reports/nonsense-none/report.json: no such report; run `pytest benchmarks/ --model nonsense")
