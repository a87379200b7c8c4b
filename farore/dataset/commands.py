"""``farore data``: check and import training datasets.

    farore data validate      [PATH ...] [--lenient] [--json]
    farore data coverage      [PATH ...] [--cases DIR] [--json]
    farore data dedup         [PATH ...] [--threshold J] [--code-threshold J] [--output FILE] [--json]
    farore data balance       [PATH ...] [--cases DIR] [--min-share S] [--category C ...] [--json]
    farore data contamination [PATH ...] [--cases DIR] [--threshold C] [--json]
    farore data cues          [PATH ...] [--cases DIR] [--max-spread S] [--max-hinted S] [--json]
    farore data check         [PATH ...] [--cases DIR] [--min-share S] [--max-spread S] [--max-hinted S] [--json]
    farore data import v1 SOURCE OUTPUT
    farore data import benchmark SOURCE OUTPUT --as cases|dialogues [--concepts-from DIR]

PATH is a .jsonl file or a directory of them (default: the shipped curated dataset); --cases
the benchmark (default: the shipped one). Exit status: 0 when the gate passes, 1 when it fails,
2 when the input cannot be used at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import TypeAdapter

from farore.cases import CaseFileError, categories, load_cases
from farore.dataset.balance import DEFAULT_MIN_SHARE, BalanceResult, measure_balance
from farore.dataset.contamination import NEAR_CODE_THRESHOLD, ContaminationResult, find_contamination
from farore.dataset.cues import DEFAULT_MAX_HINTED, DEFAULT_MAX_SPREAD, STYLES, CueResult, measure_cues
from farore.dataset.coverage import Budget, CoverageResult, measure_coverage
from farore.dataset.dedup import CODE_THRESHOLD, DIALOGUE_THRESHOLD, DedupResult, find_duplicates, kept
from farore.dataset.format import FormatResult, check_format
from farore.dataset.importers import (
    ImportFormatError,
    case_documents,
    draft_dialogues,
    import_v1,
    load_benchmark_items,
    shared_concepts,
    write_case_files,
)
from farore.dataset.schema import (
    Dataset,
    DatasetError,
    Finding,
    dialogue_record,
    load_dataset,
    shipped_dataset_dir,
    write_jsonl,
)
from farore.resources import default_cases_dir

USAGE_ERROR = 2
STYLE_NAMES = tuple(STYLES)


@dataclass(frozen=True)
class Gate:
    """One gate's verdict: a line for the summary, the file:line findings, dataset-level problems."""

    name: str
    passed: bool
    summary: str
    findings: tuple[Finding, ...] = ()
    problems: tuple[str, ...] = ()
    details: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "passed": self.passed,
            "summary": self.summary,
            "findings": [asdict(f) for f in self.findings],
            "problems": list(self.problems),
            **self.details,
        }


def _dump(result: object) -> dict:
    return TypeAdapter(type(result)).dump_python(result, mode="json")


def schema_gate(dataset: Dataset) -> Gate:
    bad = len({(f.path, f.line) for f in dataset.findings})
    summary = f"{dataset.lines - bad} of {dataset.lines} lines valid in {len(dataset.files)} file(s)"
    details = {"files": list(dataset.files), "lines": dataset.lines, "dialogues": len(dataset.dialogues)}
    return Gate("schema", dataset.passed, summary, dataset.findings, details=details)


def format_gate(result: FormatResult) -> Gate:
    mode = "strict" if result.strict else "lenient"
    kind = "errors" if result.strict else "warnings"
    summary = f"{mode}: {len(result.findings)} {kind} in {result.failing_dialogues} of {result.dialogues} dialogues"
    details = {"strict": result.strict, "dialogues": result.dialogues}
    return Gate("format", result.passed, summary, result.findings, details=details)


def dedup_gate(result: DedupResult) -> Gate:
    exact = sum(p.kind == "exact" for p in result.pairs)
    summary = (
        f"{exact} exact, {len(result.pairs) - exact} near pairs; {len(result.dropped)} to drop "
        f"(dialogue >= {result.dialogue_threshold}, code >= {result.code_threshold})"
    )
    return Gate("dedup", result.passed, summary, result.findings, details=_dump(result))


def balance_gate(result: BalanceResult) -> Gate:
    shares = ", ".join(f"{c} {result.share(c):.1%}" for c in result.required)
    summary = f"{result.total} dialogues; min {result.min_share:.0%}: {shares}"
    details = {**_dump(result), "below": list(result.below)}
    return Gate("balance", result.passed, summary, problems=tuple(result.problems()), details=details)


def contamination_gate(result: ContaminationResult) -> Gate:
    summary = f"{len(result.hits)} hits against {result.cases} benchmark cases (near >= {result.threshold})"
    return Gate("contamination", result.passed, summary, result.findings, details=_dump(result))


def cues_gate(result: CueResult) -> Gate:
    spreads = ", ".join(f"{s.style} {s.value:.0%}" for s in result.spreads) or "none measured"
    most_hinted = max((c.hinted.share for c in result.categories), default=0.0)
    summary = (
        f"style spread across categories: {spreads} (max {result.max_spread:.0%}); "
        f"questions naming their category's concepts: at most {most_hinted:.0%} (max {result.max_hinted:.0%})"
    )
    return Gate("cues", result.passed, summary, problems=tuple(result.problems()), details=_dump(result))


def coverage_gate(result: CoverageResult) -> Gate:
    summary = f"{result.concepts_covered} of {result.concepts_total} benchmark concepts occur in assistant replies"
    details = {"categories": [{**_dump(c), "missing": list(c.missing)} for c in result.categories]}
    return Gate("coverage", result.passed, summary, problems=tuple(result.problems()), details=details)


def _columns(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return [indent + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]


def balance_table(result: BalanceResult) -> list[str]:
    rows = [[c, n, f"{result.share(c):.1%}", "" if c not in result.below else "LOW"] for c, n in result.categories.items()]
    rows += [[c, 0, "0.0%", "LOW"] for c in result.below if c not in result.categories]
    sources = [[s, n, f"{n / result.total:.1%}" if result.total else "-", ""] for s, n in result.sources.items()]
    return _columns(["category", "dialogues", "share", ""], rows) + _columns(["source", "dialogues", "share", ""], sources)


def cues_table(result: CueResult) -> list[str]:
    flagged = {(s.style, c.category) for s in result.too_wide for c in (s.low, s.high)}
    rows = []
    for category in result.categories:
        row = [category.category, category.styles[STYLE_NAMES[0]].measured]
        for style in STYLE_NAMES:
            row.append(f"{category.styles[style].share:.0%}" + (" EXTREME" if (style, category.category) in flagged else ""))
        rows.append([*row, f"{category.hinted.share:.0%}" + (" HINTED" if category in result.hinted else "")])
    return _columns(["category", "with code", *STYLE_NAMES, "names concepts"], rows)


def coverage_table(result: CoverageResult) -> list[str]:
    rows = []
    for category in result.categories:
        for index, concept in enumerate(category.concepts):
            label = f"{category.category} ({category.dialogues})" if index == 0 else ""
            flag = "MISSING" if concept.dialogues == 0 else ""
            rows.append([label, concept.name, concept.dialogues, concept.in_category, flag])
    table = _columns(["category (dialogues)", "concept", "all", "own", ""], rows)
    header, ceilings = ["category", "ceiling"], [[c.category, f"{c.ceiling:.0%}"] for c in result.categories]
    if result.budget_tokens is not None:
        header.append(f"within {result.budget_tokens} tokens")
        for row, category in zip(ceilings, result.categories):
            row.append(f"{category.ceiling_in_budget:.0%}")
    return [*table, "", *_columns(header, ceilings)]


def _print_gates(gates: Sequence[Gate], tables: Sequence[str] = ()) -> None:
    for gate in gates:
        for finding in sorted(gate.findings, key=lambda f: (f.path, f.line)):
            print(finding)
        for problem in gate.problems:
            print(f"{gate.name}: {problem}")
    width = max(len(g.name) for g in gates)
    for gate in gates:
        print(f"{gate.name.ljust(width)}  {'PASS' if gate.passed else 'FAIL'}  {gate.summary}")
    for line in tables:
        print(line)


def _finish(args: argparse.Namespace, gates: Sequence[Gate], tables: Sequence[str] = (), extra: dict | None = None) -> int:
    passed = all(g.passed for g in gates)
    if args.json:
        payload = {"passed": passed, "gates": {g.name: g.as_json() for g in gates}, **(extra or {})}
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        _print_gates(gates, tables)
    return 0 if passed else 1


def _shown(path: Path) -> Path:
    """A path relative to the working directory when it lies below it, for shorter findings."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _load(args: argparse.Namespace, schema_is_a_gate: bool = False) -> Dataset:
    dataset = load_dataset(args.paths or [_shown(shipped_dataset_dir())])
    if dataset.findings and not schema_is_a_gate:
        print(
            f"note: {len({(f.path, f.line) for f in dataset.findings})} invalid lines left out "
            "(see farore data validate)",
            file=sys.stderr,
        )
    return dataset


def _cases(args: argparse.Namespace):
    return load_cases(args.cases or default_cases_dir())


def _validate(args: argparse.Namespace) -> int:
    dataset = _load(args, schema_is_a_gate=True)
    return _finish(args, [schema_gate(dataset), format_gate(check_format(dataset.dialogues, strict=not args.lenient))])


def token_budget(tokens: int) -> Budget:
    """A reply's first ``tokens`` tokens by the embedded model's tokenizer (the benchmark's budget unit)."""
    from transformers import AutoTokenizer

    from farore.backends.embedded import embedded_checkpoint

    tokenizer = AutoTokenizer.from_pretrained(embedded_checkpoint())
    return Budget(tokens, lambda text: tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"][:tokens]))


def _coverage(args: argparse.Namespace) -> int:
    budget = token_budget(args.budget_tokens) if args.budget_tokens else None
    result = measure_coverage(_load(args).dialogues, _cases(args), budget)
    return _finish(args, [coverage_gate(result)], coverage_table(result))


def _dedup(args: argparse.Namespace) -> int:
    dataset = _load(args)
    result = find_duplicates(dataset.dialogues, args.threshold, args.code_threshold)
    extra = {}
    if args.output:
        if dataset.findings:
            raise DatasetError(f"{dataset.findings[0]}: fix the invalid lines first, or --output would drop them")
        count = write_jsonl(args.output, (dialogue_record(d) for d in kept(dataset.dialogues, result)))
        print(f"wrote {count} dialogues to {args.output}", file=sys.stderr)
        extra = {"output": str(args.output), "written": count}
    return _finish(args, [dedup_gate(result)], extra=extra)


def _required_categories(args: argparse.Namespace) -> list[str]:
    return args.category or categories(_cases(args))


def _balance(args: argparse.Namespace) -> int:
    result = measure_balance(_load(args).dialogues, _required_categories(args), args.min_share)
    return _finish(args, [balance_gate(result)], balance_table(result))


def _contamination(args: argparse.Namespace) -> int:
    result = find_contamination(_load(args).dialogues, _cases(args), args.threshold)
    return _finish(args, [contamination_gate(result)])


def _cues(args: argparse.Namespace) -> int:
    result = measure_cues(_load(args).dialogues, _cases(args), args.max_spread, args.max_hinted)
    return _finish(args, [cues_gate(result)], cues_table(result))


def _check(args: argparse.Namespace) -> int:
    """Every gate at once: what CI runs on the shipped dataset."""
    dataset = _load(args, schema_is_a_gate=True)
    cases = _cases(args)
    dialogues = dataset.dialogues
    balance = measure_balance(dialogues, categories(cases), args.min_share)
    coverage = measure_coverage(dialogues, cases)
    cues = measure_cues(dialogues, cases, args.max_spread, args.max_hinted)
    gates = [
        schema_gate(dataset),
        format_gate(check_format(dialogues, strict=True)),
        dedup_gate(find_duplicates(dialogues)),
        balance_gate(balance),
        contamination_gate(find_contamination(dialogues, cases)),
        cues_gate(cues),
        coverage_gate(coverage),
    ]
    return _finish(args, gates, ["", *balance_table(balance), "", *cues_table(cues), "", *coverage_table(coverage)])


def _import(args: argparse.Namespace) -> int:
    if args.output.exists() and not args.force:
        raise DatasetError(f"{args.output}: already exists; pass --force to replace it")
    if args.format == "v1":
        imported = import_v1(args.source)
        count = write_jsonl(args.output, imported.records)
        dropped = ", ".join(f"{name!r} ({n} lines)" for name, n in imported.dropped_fields.items())
        print(f"wrote {count} v1 dialogues to {args.output}" + (f"; dropped fields: {dropped}" if dropped else ""))
        print(f"next: farore data validate {args.output}")
        return 0
    if args.as_ is None:
        raise DatasetError("a benchmark import needs --as cases or --as dialogues")
    items = load_benchmark_items(args.source)
    if args.as_ == "dialogues":
        count = write_jsonl(args.output, draft_dialogues(items))
        print(f"wrote {count} draft dialogues to {args.output}; finish the answers, then:")
        print(f"farore data validate {args.output}")
        return 0
    known = shared_concepts(load_cases(args.concepts_from or default_cases_dir()))
    written = write_case_files(case_documents(args.source, items, known), args.output)
    cases = load_cases(args.output)
    print(f"wrote {len(cases)} cases in {len(written)} case files under {args.output}")
    return 0


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Input that cannot be used at all: one clear message and exit status 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (DatasetError, CaseFileError, ImportFormatError) as error:
            print(f"farore data: {error}", file=sys.stderr)
            return USAGE_ERROR

    return run


def _add(commands, name: str, command, help: str, cases: bool = False) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help, description=help)
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="a .jsonl file or a directory of them")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    if cases:
        parser.add_argument("--cases", type=Path, action="append", help="benchmark case file or directory")
    parser.set_defaults(func=_guarded(command))
    return parser


def _cue_limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-spread", type=float, default=DEFAULT_MAX_SPREAD, help="largest upper-case share difference")
    parser.add_argument(
        "--max-hinted", type=float, default=DEFAULT_MAX_HINTED, help="largest share of questions naming their concepts"
    )


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="validate, check and import training datasets (JSONL dialogues)")
    commands = data.add_subparsers(dest="data_command", required=True)

    validate = _add(commands, "validate", _validate, "schema and diagnosis-first format of every dialogue")
    validate.add_argument("--lenient", action="store_true", help="format violations are warnings (exit 0)")

    coverage = _add(commands, "coverage", _coverage, "which benchmark concepts the answers use, and which never", cases=True)
    coverage.add_argument(
        "--budget-tokens", type=int, metavar="N",
        help="also the ceiling within each answer's first N tokens (the benchmark generates 256)",
    )

    dedup = _add(commands, "dedup", _dedup, "exact and near-duplicate dialogues (the first is kept)")
    dedup.add_argument("--threshold", type=float, default=DIALOGUE_THRESHOLD, help="dialogue word-shingle Jaccard")
    dedup.add_argument("--code-threshold", type=float, default=CODE_THRESHOLD, help="user code line-shingle Jaccard")
    dedup.add_argument("--output", type=Path, help="write the dataset without the duplicates to this file")

    balance = _add(commands, "balance", _balance, "dialogues per category and source; low categories", cases=True)
    balance.add_argument("--min-share", type=float, default=DEFAULT_MIN_SHARE)
    balance.add_argument(
        "--category", action="append", help="a category that must hold the share (default: the benchmark's)"
    )

    contamination = _add(
        commands, "contamination", _contamination, "training dialogues that reproduce benchmark cases", cases=True
    )
    contamination.add_argument("--threshold", type=float, default=NEAR_CODE_THRESHOLD, help="near-copy containment")

    cues = _add(
        commands, "cues", _cues,
        "surface features that tell the categories apart: the mnemonics' case, the answer's terms in the question",
        cases=True,
    )
    _cue_limits(cues)

    check = _add(
        commands, "check", _check,
        "every gate: schema, format (strict), dedup, balance, contamination, cues, coverage", cases=True,
    )
    check.add_argument("--min-share", type=float, default=DEFAULT_MIN_SHARE)
    _cue_limits(check)

    importer = commands.add_parser("import", help="convert v1 chat JSONL or a benchmark JSONL")
    importer.add_argument("format", choices=["v1", "benchmark"])
    importer.add_argument("source", type=Path)
    importer.add_argument("output", type=Path, help="a .jsonl file (v1, dialogues) or a directory of case files (cases)")
    importer.add_argument(
        "--as", dest="as_", choices=["cases", "dialogues"], help="benchmark: as case files or draft dialogues"
    )
    importer.add_argument("--concepts-from", type=Path, help="benchmark whose category concepts the cases get")
    importer.add_argument("--force", action="store_true", help="replace an existing output")
    importer.set_defaults(func=_guarded(_import))
    from farore.dataset import create_commands; create_commands.register(commands)  # noqa: E702  (mine, expand, synthesize)
