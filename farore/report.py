"""Run reports: the JSON model (a boundary, validated on read), Markdown and the summary table."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from pydantic import BaseModel, ValidationError

from farore.cases import Case
from farore.gate import MINIMUM, CategoryScore, GateResult, Summary
from farore.runner import CaseOutcome, SampleOutcome

TRACKED_PACKAGES = ("farore", "torch", "transformers", "peft", "trl", "ollama", "httpx", "pydantic", "pytest")
PREVIEW_CHARS = 200


class RunInfo(BaseModel):
    model: str
    backend: str
    backend_identity: str | None = None
    prompt_strategy: str
    system_prompt: str | None = None
    scoring: str
    samples: int
    settings: dict[str, float | int | None]
    cases_source: list[str]
    started: str | None = None
    wall_time_s: float | None = None


class SampleRecord(BaseModel):
    sample: int
    seed: int
    response: str
    score: float
    passed: bool
    found: list[str]
    missing: list[str]
    anti_keywords: list[str]
    behaviour: dict[str, bool]
    latency_s: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cached: bool
    error: str | None


class CaseRecord(BaseModel):
    case_id: str
    category: str
    prompt: str
    threshold: float
    score: float
    passed: bool
    samples: list[SampleRecord]


class CategoryRecord(BaseModel):
    category: str
    cases: int
    passed: int
    errored: int
    score: float
    interval: tuple[float, float] | None
    gate_passed: bool


class GateRecord(BaseModel):
    name: str
    passed: bool
    categories_passing: int
    categories_total: int
    reasons: list[str]


class SummaryRecord(BaseModel):
    categories: list[CategoryRecord]
    overall: float
    gate: GateRecord
    stretch: GateRecord
    behaviour_rates: dict[str, float]
    anti_keyword_count: int
    errored: int
    cached_answers: int


class Report(BaseModel):
    farore_version: str
    created: str
    run: RunInfo
    package_versions: dict[str, str | None]
    summary: SummaryRecord
    cases: list[CaseRecord]
    #: The original evaluation script's per-expert shape, so that old tooling can read this file.
    legacy: dict[str, dict]


class ReportError(ValueError):
    pass


def package_versions() -> dict[str, str | None]:
    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {name: version(name) for name in TRACKED_PACKAGES}


def _gate_record(gate: GateResult) -> GateRecord:
    return GateRecord(
        name=gate.policy.name,
        passed=gate.passed,
        categories_passing=gate.categories_passing,
        categories_total=gate.categories_total,
        reasons=list(gate.reasons),
    )


def _sample_record(sample: SampleOutcome) -> SampleRecord:
    fields = dataclasses.asdict(sample)
    return SampleRecord.model_validate({name: fields[name] for name in SampleRecord.model_fields})


def _legacy(model: str, cases: Sequence[CaseRecord]) -> dict[str, dict]:
    latencies = [s.latency_s for c in cases for s in c.samples if s.latency_s is not None]
    return {
        "farore": {
            "model_id": model,
            "tests": len(cases),
            "passed": sum(c.passed for c in cases),
            "avg_score": sum(c.score for c in cases) / len(cases) if cases else 0.0,
            "avg_latency_ms": 1000 * sum(latencies) / len(latencies) if latencies else 0.0,
            "details": [
                {
                    "name": c.case_id,
                    "passed": c.passed,
                    "score": c.score,
                    "missing": list(dict.fromkeys(m for s in c.samples for m in s.missing)),
                    "response_preview": c.samples[0].response[:PREVIEW_CHARS],
                }
                for c in cases
            ],
        }
    }


def build_report(run: RunInfo, cases: Sequence[Case], outcomes: Sequence[CaseOutcome], summary: Summary) -> Report:
    by_id = {case.id: case for case in cases}
    records = [
        CaseRecord(
            case_id=o.case_id,
            category=o.category,
            prompt=by_id[o.case_id].prompt,
            threshold=o.threshold,
            score=o.score,
            passed=o.passed,
            samples=[_sample_record(s) for s in o.samples],
        )
        for o in outcomes
    ]
    versions = package_versions()
    return Report(
        farore_version=versions["farore"] or "unknown",
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        run=run,
        package_versions=versions,
        summary=SummaryRecord(
            categories=[
                CategoryRecord(**_category_fields(c), gate_passed=c.score >= MINIMUM.category_threshold) for c in summary.categories
            ],
            overall=summary.overall,
            gate=_gate_record(summary.gate),
            stretch=_gate_record(summary.stretch),
            behaviour_rates=summary.behaviour_rates,
            anti_keyword_count=summary.anti_keyword_count,
            errored=summary.errored,
            cached_answers=sum(s.cached for o in outcomes for s in o.samples),
        ),
        cases=records,
        legacy=_legacy(run.model, records),
    )


def _category_fields(category: CategoryScore) -> dict:
    return {
        "category": category.category,
        "cases": category.cases,
        "passed": category.passed,
        "errored": category.errored,
        "score": category.score,
        "interval": category.interval,
    }


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it over: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 would make reports private
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_report(path: Path) -> Report:
    try:
        return Report.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such report") from None
    except json.JSONDecodeError as error:
        raise ReportError(f"{path}: line {error.lineno}: not valid JSON: {error.msg}") from None
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ReportError(f"{path}: field {field!r}: {first['msg']}") from None


def _percent(value: float) -> str:
    return f"{value:.1%}"


def _category_row(category: CategoryRecord, threshold: float) -> list[str]:
    score = _percent(category.score)
    if category.interval:
        score += f" [{category.interval[0]:.0%}-{category.interval[1]:.0%}]"
    verdict = "pass" if category.gate_passed else f"FAIL (< {threshold:.0%})"
    errored = f" ({category.errored} errored)" if category.errored else ""
    return [category.category, str(category.cases), f"{category.passed}{errored}", score, verdict]


def _gate_line(gate: GateRecord) -> str:
    verdict = "PASS" if gate.passed else "FAIL"
    reasons = f": {'; '.join(gate.reasons)}" if gate.reasons else ""
    return f"{gate.name} gate: {verdict}{reasons}"


def summary_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    header = ["category", "cases", "passed", "score", "gate"]
    summary = report.summary
    rows = [_category_row(c, MINIMUM.category_threshold) for c in summary.categories]
    total_cases = sum(c.cases for c in summary.categories)
    total_passed = sum(c.passed for c in summary.categories)
    rows.append(["overall", str(total_cases), str(total_passed), _percent(summary.overall), "PASS" if summary.gate.passed else "FAIL"])
    return header, rows


def _footer_lines(report: Report) -> list[str]:
    summary = report.summary
    behaviour = ", ".join(f"{goal} {rate:.0%}" for goal, rate in summary.behaviour_rates.items())
    return [
        _gate_line(summary.gate),
        f"{_gate_line(summary.stretch)} (information only)",
        f"behaviour goals: {behaviour}",
        f"errored cases: {summary.errored}; anti-keyword hits: {summary.anti_keyword_count}; "
        f"cached answers: {summary.cached_answers}",
    ]


def render_table(report: Report) -> str:
    header, rows = summary_rows(report)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        f"farore: model={report.run.model} strategy={report.run.prompt_strategy} "
        f"scoring={report.run.scoring} samples={report.run.samples}",
        "  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(),
    ]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines + _footer_lines(report))


def _one_line(text: str, limit: int = PREVIEW_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def render_markdown(report: Report, worst: int = 5) -> str:
    header, rows = summary_rows(report)
    run = report.run
    lines = [
        f"# farore benchmark: {run.model}",
        "",
        f"- backend: {run.backend}",
        f"- prompt strategy: {run.prompt_strategy}",
        f"- scoring: {run.scoring}; samples per case: {run.samples}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        *(f"- {line}" for line in _footer_lines(report)),
        "",
        "## Gap analysis",
        "",
        "Most often missing concepts per category:",
        "",
    ]
    for category in report.summary.categories:
        cases = [c for c in report.cases if c.category == category.category]
        missing = Counter(m for c in cases for s in c.samples for m in s.missing)
        listed = ", ".join(f"`{concept}` ({count}x)" for concept, count in missing.most_common(5)) or "none"
        lines.append(f"- **{category.category}**: {listed}")
    lines += ["", f"Worst {worst} cases:", ""]
    for case in sorted(report.cases, key=lambda c: (c.score, c.case_id))[:worst]:
        sample = case.samples[0]
        missing = ", ".join(dict.fromkeys(m for s in case.samples for m in s.missing)) or "none"
        lines += [
            f"### {case.case_id} ({case.category}): {case.score:.0%}",
            "",
            f"- missing: {missing}",
            *([f"- anti-keywords: {', '.join(sample.anti_keywords)}"] if sample.anti_keywords else []),
            *([f"- error: {sample.error}"] if sample.error else []),
            f"- response: {_one_line(sample.response) or '(empty)'}",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def write_report(report: Report, directory: Path) -> tuple[Path, Path]:
    json_path, md_path = directory / "report.json", directory / "report.md"
    atomic_write_text(json_path, report.model_dump_json(indent=2))
    atomic_write_text(md_path, render_markdown(report))
    return json_path, md_path
