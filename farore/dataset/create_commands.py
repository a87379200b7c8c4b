"""``farore data mine|expand|synthesize``: the commands that create dialogues.

    farore data mine REPO [--rev REV] [--output FILE] [--force] [--json]
    farore data expand [PATH ...] --output FILE [--per-dialogue N] [--seed S] [--show N] [--force] [--json]
    farore data synthesize [PATH ...] --model MODEL [--category C ...] [--count N] [--shots K]
                           [--examples PATH] [--output-dir DIR] [--seed S] [--json] ...
    farore data synthesize --accept-reviewed REVIEW.md --into DATASET.jsonl

Exit status: 0 when the command did its work, 2 when its input cannot be used at all.
"""

from __future__ import annotations

import argparse
import difflib
import json
import random
import statistics
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from farore.backends import DEFAULT_TIMEOUT_S, BackendError, GenerationSettings, resolve_backend
from farore.cases import categories, load_cases
from farore.dataset import commands
from farore.dataset.dedup import CODE_THRESHOLD, DIALOGUE_THRESHOLD
from farore.dataset.expand import DEFAULT_PER_DIALOGUE, DEFAULT_SEED, TRANSFORMATION_NAMES, ExpandResult, Variation, expand_dialogues
from farore.dataset.format import check_format
from farore.dataset.importers import shared_concepts
from farore.dataset.mine import MineError, MineResult, draft_records, mine_repository
from farore.dataset.schema import DatasetError, dialogue_record, load_dataset, shipped_dataset_dir, write_jsonl
from farore.dataset.synthesize import (
    DEFAULT_COUNT,
    DEFAULT_MAX_NEW_TOKENS,
    DEFAULT_SHOTS,
    DEFAULT_TEMPERATURE,
    QualityGate,
    SynthesisResult,
    build_requests,
    merge_reviewed,
    synthesize,
    write_outputs,
)
from farore.resources import default_cases_dir


def _as_dataset_error(command):
    """A backend or a repository that cannot serve is input that cannot be used: the dataset
    commands' one clear message and exit status 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (BackendError, MineError) as error:
            raise DatasetError(str(error)) from None

    return run


def _new_output(path: Path, force: bool) -> Path:
    if path.exists() and not force:
        raise DatasetError(f"{path}: already exists; pass --force to replace it")
    return path


def _print_json(payload: dict) -> None:
    print(json.dumps(payload, indent=2, ensure_ascii=False))


# --- mine --------------------------------------------------------------------------------------


def _mine_summary(result: MineResult) -> list[str]:
    lines = [f"{result.commits} commits touch assembly files; {len(result.fixes)} look like bug fixes"]
    for fix in result.fixes:
        guess = fix.category or "no category guess"
        lines.append(f"  {fix.commit[:12]}  {fix.subject}  ({fix.changed_lines} code lines, {', '.join(fix.signals) or 'no signal'}; {guess})")
    return lines


def _mine(args: argparse.Namespace) -> int:
    output = _new_output(args.output, args.force)
    result = mine_repository(args.repo, args.rev)
    count = write_jsonl(output, draft_records(result))
    if args.json:
        _print_json({"repository": str(args.repo), "commits": result.commits, "output": str(output), "drafts": count,
                     "fixes": [{**asdict(fix), "category": fix.category} for fix in result.fixes]})
    else:
        print("\n".join(_mine_summary(result)))
        print(f"wrote {count} draft dialogues to {output}: write each diagnosis where it says [REVIEW], then: farore data validate {output}")
    return 0


# --- expand ------------------------------------------------------------------------------------


def _beside(variation: Variation) -> list[str]:
    """A variation beside its parent: a unified diff of each turn."""
    lines = [f"=== {variation.dialogue.id} (parent {variation.parent.id}): {variation.verdict}"]
    lines += [f"    {t}" for t in variation.dialogue.transformations or ()]
    for before, after in zip(variation.parent.messages, variation.dialogue.messages):
        diff = difflib.unified_diff(before.content.splitlines(), after.content.splitlines(), f"{before.role} (parent)", f"{after.role} (variation)", lineterm="", n=1)
        lines += list(diff)
    return lines


def _spread(values: list[float]) -> str:
    if not values:
        return "none"
    return f"median {statistics.median(values):.2f} ({values[0]:.2f}-{values[-1]:.2f}, {len(values)} variations)"


def _refusals(result: ExpandResult, name: str, shown: int = 3) -> list[str]:
    reasons = Counter(r.reason for r in result.refusals if r.transformation == name)
    return [f"      {count} x {reason}" for reason, count in reasons.most_common(shown)]


def _expand_summary(result: ExpandResult, written: int, output: Path) -> list[str]:
    lines = [
        f"in: {result.parents} dialogues; {len(result.variations)} variations made, none for the "
        f"{result.without_semantic} dialogues no semantic transformation applies to",
        f"dropped: {result.dropped('format')} failing the format, {result.dropped('near-duplicate of the parent')} "
        f"near-duplicates of their parent, {result.dropped('near-duplicate of') - result.dropped('near-duplicate of the parent')} "
        f"near-duplicates of another variation (dedup: dialogue >= {result.dialogue_threshold}, code >= {result.code_threshold})",
        f"  similarity of the dropped: dialogue {_spread(result.similarities('dialogue'))}; code {_spread(result.similarities('code'))}",
        f"out: {written} variations written to {output}",
        "transformations (dialogues they apply to; variations written that use them; the most common refusals):",
    ]
    for name in TRANSFORMATION_NAMES:
        lines.append(f"  {name}: {result.applicable[name]} of {result.parents}; in {result.used(name)} written")
        lines += _refusals(result, name)
    return lines


def _expand(args: argparse.Namespace) -> int:
    output = _new_output(args.output, args.force)
    dataset = load_dataset(args.paths or [shipped_dataset_dir() / "train.jsonl"])
    failing = {(f.path, f.line) for f in check_format(dataset.dialogues).findings}
    valid = [d for d in dataset.dialogues if (d.path, d.line) not in failing]
    if dataset.findings or failing:
        print(f"note: {len(dataset.findings) + len(failing)} lines that fail the schema or the format are not expanded "
              "(see farore data validate)", file=sys.stderr)
    result = expand_dialogues(valid, args.per_dialogue, args.seed, output.name, args.threshold, args.code_threshold)
    written = write_jsonl(output, (dialogue_record(v.dialogue) for v in result.kept))
    shown = result.kept if len(result.kept) >= args.show else list(result.variations)
    picked = random.Random(args.seed).sample(shown, k=min(args.show, len(shown)))
    if args.json:
        _print_json({
            "parents": result.parents, "without_semantic": result.without_semantic, "made": len(result.variations),
            "written": written, "output": str(output), "applicable": result.applicable,
            "variations": [{"id": v.dialogue.id, "parent": v.parent.id, "verdict": v.verdict,
                            "similarity": v.duplicate.similarity if v.duplicate else None,
                            "transformations": list(v.dialogue.transformations or ())} for v in result.variations],
            "refusals": [asdict(r) for r in result.refusals],
        })
    else:
        print("\n".join(_expand_summary(result, written, output)))
        for variation in picked:
            print("\n".join(["", *_beside(variation)]))
    return 0


# --- synthesize --------------------------------------------------------------------------------


def _synthesis_summary(result: SynthesisResult, directory: Path) -> list[str]:
    total = len(result.outcomes)
    rate = f"{len(result.accepted) / total:.0%}" if total else "-"
    lines = [f"{result.model}: {total} generated, {len(result.accepted)} accepted ({rate}), {len(result.rejected)} rejected"]
    lines += [f"  {check}: {count}" for check, count in result.reason_counts().items()]
    lines.append(f"wrote {directory}/accepted.jsonl, rejected.jsonl and review.md")
    return lines


def _accept_reviewed(args: argparse.Namespace) -> int:
    if args.into is None:
        raise DatasetError("--accept-reviewed needs --into DATASET.jsonl, the file to merge into")
    merged = merge_reviewed(args.accept_reviewed, args.into, load_cases(args.cases or default_cases_dir()))
    if args.json:
        _print_json({**asdict(merged), "into": str(merged.into)})
    else:
        print(f"merged {len(merged.added)} reviewed dialogues into {merged.into}; {len(merged.already_there)} were already there, "
              f"{merged.unticked} not ticked")
        for identifier, reasons in merged.refused:
            print(f"  refused {identifier}: {reasons}")
    return 0 if not merged.refused else 1


def _synthesize(args: argparse.Namespace) -> int:
    if args.accept_reviewed is not None:
        return _accept_reviewed(args)
    if args.model is None:
        raise DatasetError("synthesize needs --model MODEL (or --accept-reviewed REVIEW.md)")
    cases = load_cases(args.cases or default_cases_dir())
    existing = load_dataset(args.paths or [shipped_dataset_dir()]).dialogues
    examples = load_dataset(args.examples or shipped_dataset_dir() / "train.jsonl").dialogues
    wanted = args.category or list(dict.fromkeys([*categories(cases), *(e.category for e in examples if e.category)]))
    requests = build_requests(wanted, args.count, examples, shared_concepts(cases), args.shots, args.seed)
    backend = resolve_backend(args.model, ollama_host=args.ollama_host, timeout_s=args.request_timeout)
    backend.check()
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=args.seed)
    result = synthesize(backend, requests, QualityGate(existing, cases), settings, lambda r: write_outputs(args.output_dir, r))
    write_outputs(args.output_dir, result)
    if args.json:
        _print_json({
            "model": result.model, "generated": len(result.outcomes), "accepted": len(result.accepted),
            "rejected": len(result.rejected), "reasons": result.reason_counts(), "output_dir": str(args.output_dir),
        })
    else:
        print("\n".join(_synthesis_summary(result, args.output_dir)))
    return 0


def register(data_commands) -> None:
    """Add mine, expand and synthesize to the ``farore data`` group."""
    mine = data_commands.add_parser("mine", help="draft dialogues from the bug-fix commits of a git repository (read-only)")
    mine.add_argument("repo", type=Path, metavar="REPO", help="a git repository (its working tree or .git directory)")
    mine.add_argument("--rev", default="HEAD", help="mine the history reachable from this revision")
    mine.add_argument("--output", type=Path, default=Path("mined.jsonl"), help="the draft dialogues (JSONL)")
    mine.add_argument("--force", action="store_true", help="replace an existing output")
    mine.add_argument("--json", action="store_true", help="machine-readable output")
    mine.set_defaults(func=commands._guarded(_as_dataset_error(_mine)))

    expand = commands._add(data_commands, "expand", _expand, "seeded variations of each dialogue (register swap, DMA channel, traced steps, moves)")
    expand.add_argument("--output", type=Path, required=True, help="the variations (JSONL)")
    expand.add_argument("--per-dialogue", type=int, default=DEFAULT_PER_DIALOGUE, help="variations to attempt per dialogue")
    expand.add_argument("--seed", type=int, default=DEFAULT_SEED)
    expand.add_argument("--threshold", type=float, default=DIALOGUE_THRESHOLD, help="dedup: dialogue word-shingle Jaccard")
    expand.add_argument("--code-threshold", type=float, default=CODE_THRESHOLD, help="dedup: user code line-shingle Jaccard")
    expand.add_argument("--show", type=int, default=3, help="print this many variations (picked at random) beside their parents")
    expand.add_argument("--force", action="store_true", help="replace an existing output")

    synth = commands._add(data_commands, "synthesize", _as_dataset_error(_synthesize), "generate dialogues through a model, under the quality gate, for review", cases=True)
    synth.description = (
        "Generate dialogues through a model, gate each one (schema, format, concepts, anti-keywords, contamination, "
        "duplicates of PATH: the existing data, default the shipped dataset), and write them for review."
    )
    synth.add_argument("--model", help="embedded, hf:PATH, NAME:TAG (Ollama), openai:BASE_URL#MODEL or scripted:FILE")
    synth.add_argument("--category", action="append", help="a bug category to generate (default: the benchmark's and the examples')")
    synth.add_argument("--count", type=int, default=DEFAULT_COUNT, help="dialogues to generate per category")
    synth.add_argument("--shots", type=int, default=DEFAULT_SHOTS, help="few-shot examples per prompt")
    synth.add_argument("--examples", type=Path, help="where the few-shot examples come from (default: the shipped train.jsonl)")
    synth.add_argument("--output-dir", type=Path, default=Path("synthetic"), help="accepted.jsonl, rejected.jsonl, review.md")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE)
    synth.add_argument("--max-new-tokens", type=int, default=DEFAULT_MAX_NEW_TOKENS)
    synth.add_argument("--ollama-host", help="Ollama server (default: $OLLAMA_HOST, else http://127.0.0.1:11434)")
    synth.add_argument("--request-timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds one request may take")
    synth.add_argument("--accept-reviewed", type=Path, metavar="REVIEW.md", help="merge the ticked dialogues of a review file")
    synth.add_argument("--into", type=Path, metavar="DATASET.jsonl", help="with --accept-reviewed: the dataset file to merge into")
