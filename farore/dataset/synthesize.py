"""Synthesize dialogues through any backend, under a quality gate, for human review.

Each request asks the model for one dialogue of one bug category with the seed's strict-format
generation prompt (Phase 2 of the improvement strategy), a short brief of the category, the
benchmark's concepts for it, and ``shots`` few-shot examples drawn (seeded) from the curated
set. The model answers in a fixed layout, a ``### User`` section then an ``### Assistant``
section, which :func:`parse_dialogue` cuts into the two turns.

Every generation goes through the quality gate, every check reported by name:

* ``layout``: both sections are there (else nothing else can be checked);
* ``schema``: the dialogue line passes the dataset schema (:func:`farore.dataset.schema.parse_line`);
* ``format``: the answer passes the diagnosis-first validator, strict (each rule by name);
* ``concepts``: every concept the benchmark requires of the category occurs in the answer
  (:func:`farore.scoring.concept_found`, the scorer's own matching); categories outside the
  benchmark have none to check;
* ``anti-keywords``: none of the category's anti-keywords (refusals, "not sure") occurs;
* ``contamination``: the dialogue does not reproduce a benchmark case
  (:func:`farore.dataset.contamination.find_contamination`);
* ``duplicate``: the dedup gate (:func:`farore.dataset.dedup.find_duplicates`) finds it a
  near-duplicate of none of the existing data and of no dialogue accepted before it (checked
  for the dialogues that pass every other check, so that a rejected one never stands in the
  way of a later one).

Accepted dialogues go to ``accepted.jsonl`` (``source: synthetic``, ``model``), rejected ones
to ``rejected.jsonl`` with their reasons and the raw text, and ``review.md`` lists the accepted
ones, each under an unticked ``- [ ] accept <id>`` box. The seed asks for every synthetic sample
to be reviewed by hand: only what the reviewer ticks is merged by :func:`merge_reviewed`, which
runs the gate again (the reviewer may have edited ``accepted.jsonl``) against the dataset it
merges into, and writes that file atomically. The files are rewritten after every chunk of
generations, so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from farore.backends.base import Backend, GenerationError, GenerationSettings
from farore.cases import DEFAULT_ANTI_KEYWORDS, Case, Concept
from farore.dataset.contamination import find_contamination
from farore.dataset.dedup import find_duplicates
from farore.dataset.format import check_format
from farore.dataset.importers import shared_concepts
from farore.dataset.schema import DatasetError, Dialogue, dialogue_record, load_dataset, parse_line, write_jsonl
from farore.report import atomic_write_text
from farore.scoring import concept_found, find_anti_keywords

USER_MARK = "### User"
ASSISTANT_MARK = "### Assistant"
ACCEPTED_FILE = "accepted.jsonl"
REJECTED_FILE = "rejected.jsonl"
REVIEW_FILE = "review.md"
DEFAULT_COUNT = 2
DEFAULT_SHOTS = 2
DEFAULT_TEMPERATURE = 0.7
DEFAULT_MAX_NEW_TOKENS = 1024
GATE_CHUNK = 8

#: The seed's Phase 2 prompt, with the category, its concepts and the answer layout filled in.
GENERATION_PROMPT = """Generate a 65816 debugging dialogue where:
1. User presents buggy code with symptoms
2. Assistant identifies bug type immediately
3. Assistant explains reasoning step-by-step
4. Assistant provides fix with explanation

Bug category: {category}: {brief}
{concepts}
Format of the assistant's answer:
**Bug: [Type]**
[Explanation]
**What's happening:**
1. [Step]
2. [Step]
**Fix:** [Solution]

Write the dialogue in exactly this layout, and nothing else:
{user_mark}
(the user's message: what they observed in the game, and the buggy routine in an ```asm block)
{assistant_mark}
(the answer, in the format above; code only in the **Fix:** section)

Every claim about the 65816 and the SNES must be true. Do not copy the examples: use other code,
registers, addresses, routine names and symptoms.
{examples}"""

CATEGORY_BRIEFS: dict[str, str] = {
    "mode_mismatch": "an operand or register size that does not match the M/X flags in effect (REP/SEP, 8-bit vs 16-bit)",
    "missing_mode_switch": "code that never switches the accumulator or index registers to the size it needs (a missing SEP or REP)",
    "stack_corruption": "pushes and pulls that do not pair up on some path, so RTS/RTL/RTI pulls the wrong bytes",
    "register_clobbering": "a subroutine or interrupt handler that overwrites a register its caller still needs",
    "dma_errors": "a DMA set-up with a wrong, missing or stale byte count ($43n5/$43n6) or wrong channel registers",
    "addressing_mode": "an addressing mode that reads or writes another address than intended (direct page vs absolute vs long)",
    "interrupt_handling": "an NMI or IRQ handler that breaks the interrupted code (registers, flags, data bank, acknowledgement)",
    "branch_logic": "a branch that tests the wrong flag, is out of range, or is taken in the wrong case",
    "data_bank": "absolute addresses resolved through the wrong data bank register (DBR, PHB/PLB, PHK/PLB)",
}


@dataclass(frozen=True)
class Request:
    category: str
    index: int
    examples: tuple[Dialogue, ...]
    prompt: str


@dataclass(frozen=True)
class Outcome:
    """One generation and the gate's verdict on it."""

    category: str
    text: str
    dialogue: Dialogue | None
    reasons: tuple[str, ...]

    @property
    def accepted(self) -> bool:
        return not self.reasons and self.dialogue is not None

    def rejected_record(self) -> dict:
        record = dialogue_record(self.dialogue) if self.dialogue is not None else {"category": self.category}
        messages = record.pop("messages", None)
        return {**record, "reasons": list(self.reasons), "text": self.text, **({"messages": messages} if messages else {})}


@dataclass
class SynthesisResult:
    model: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def accepted(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.accepted]

    @property
    def rejected(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.accepted]

    def reason_counts(self) -> dict[str, int]:
        """How many rejected generations failed each check (a generation may fail several)."""
        counts: dict[str, int] = {}
        for outcome in self.rejected:
            for check in dict.fromkeys(reason.split(":", 1)[0] for reason in outcome.reasons):
                counts[check] = counts.get(check, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: -item[1]))


def _render(dialogue: Dialogue) -> str:
    return f"{USER_MARK}\n{dialogue.texts('user')[0].strip()}\n{ASSISTANT_MARK}\n{dialogue.texts('assistant')[0].strip()}"


def generation_prompt(category: str, concepts: Sequence[Concept], examples: Sequence[Dialogue]) -> str:
    brief = CATEGORY_BRIEFS.get(category, category.replace("_", " "))
    terms = f"Use these terms where they apply: {', '.join(c.name for c in concepts)}.\n" if concepts else ""
    shown = "".join(f"\nExample {n}:\n{_render(example)}\n" for n, example in enumerate(examples, 1))
    return GENERATION_PROMPT.format(
        category=category,
        brief=brief,
        concepts=terms,
        user_mark=USER_MARK,
        assistant_mark=ASSISTANT_MARK,
        examples=shown,
    ).rstrip() + "\n"


def build_requests(
    categories: Sequence[str],
    count: int,
    examples: Sequence[Dialogue],
    concepts: dict[str, list[Concept]],
    shots: int = DEFAULT_SHOTS,
    seed: int = 0,
) -> list[Request]:
    """``count`` requests per category, each with its own seeded draw of few-shot examples
    (from the category's own examples when it has enough, else from all)."""
    rng = random.Random(seed)
    requests = []
    for category in categories:
        own = [e for e in examples if e.category == category]
        pool = own if len(own) >= shots else list(examples)
        for index in range(count):
            chosen = tuple(rng.sample(pool, k=min(shots, len(pool))))
            requests.append(Request(category, index, chosen, generation_prompt(category, concepts.get(category, []), chosen)))
    return requests


def parse_dialogue(text: str) -> tuple[str, str] | None:
    """The (user, assistant) turns of a generation in the ### User / ### Assistant layout."""
    user_at = text.find(USER_MARK)
    assistant_at = text.find(ASSISTANT_MARK, user_at + len(USER_MARK)) if user_at >= 0 else -1
    if assistant_at < 0:
        return None
    user = text[user_at + len(USER_MARK) : assistant_at].strip()
    assistant = text[assistant_at + len(ASSISTANT_MARK) :].split(USER_MARK, 1)[0].strip()
    return user, assistant


def synthetic_id(category: str, user: str, assistant: str) -> str:
    digest = hashlib.sha256(f"{category}\n{user}\n{assistant}".encode()).hexdigest()[:12]
    return f"synthetic-{digest}"


class QualityGate:
    """Every check a created dialogue must pass; it remembers what it accepted, so that a later
    dialogue is also deduplicated against the earlier ones."""

    def __init__(self, existing: Sequence[Dialogue], cases: Sequence[Case]):
        self.existing = list(existing)
        self.cases = list(cases)
        self.concepts = shared_concepts(cases)
        self.anti_keywords: dict[str, tuple[str, ...]] = {}
        for case in cases:
            self.anti_keywords[case.category] = tuple(dict.fromkeys(self.anti_keywords.get(case.category, ()) + case.anti_keywords))
        self.accepted: list[Dialogue] = []

    def _content_reasons(self, dialogue: Dialogue) -> list[str]:
        reasons = [f"format: {f.rule}: {f.message}" for f in check_format([dialogue]).findings]
        answer = "\n".join(dialogue.texts("assistant"))
        missing = [c.name for c in self.concepts.get(dialogue.category or "", []) if not concept_found(answer, c)]
        if missing:
            reasons.append(f"concepts: missing {', '.join(missing)}")
        anti = find_anti_keywords(answer, self.anti_keywords.get(dialogue.category or "", DEFAULT_ANTI_KEYWORDS))
        if anti:
            reasons.append(f"anti-keywords: {', '.join(anti)}")
        reasons += [f"contamination: {f.message}" for f in find_contamination([dialogue], self.cases).findings]
        return reasons

    def judge(self, dialogues: Sequence[Dialogue]) -> list[list[str]]:
        """The reasons each dialogue is rejected for (empty: accepted), in order."""
        reasons = [self._content_reasons(d) for d in dialogues]
        passing = {d.where: i for i, d in enumerate(dialogues) if not reasons[i]}
        known = [*self.existing, *self.accepted]
        duplicates = find_duplicates([*known, *(dialogues[i] for i in passing.values())])
        names = {d.where: d.id or d.where for d in [*known, *dialogues]}
        for pair in duplicates.pairs:
            index = passing.get(pair.second)
            if index is not None and not reasons[index] and pair.second in duplicates.dropped and pair.first not in duplicates.dropped:
                how = "identical" if pair.kind == "exact" else f"{pair.similarity:.2f} similar"
                reasons[index].append(f"duplicate: {pair.scope} {how} to {names[pair.first]}")
        self.accepted += [d for d, r in zip(dialogues, reasons) if not r]
        return reasons


def parse_generation(request: Request, text: str, model: str, line: int) -> Outcome:
    """Parse and schema-check one generation; the content checks are the gate's (per batch)."""
    turns = parse_dialogue(text)
    if turns is None:
        return Outcome(request.category, text, None, (f"layout: no {USER_MARK!r} section followed by an {ASSISTANT_MARK!r} section",))
    user, assistant = turns
    record = {
        "id": synthetic_id(request.category, user, assistant),
        "category": request.category,
        "source": "synthetic",
        "model": model,
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
    }
    parsed = parse_line(json.dumps(record), "generated", line)
    if isinstance(parsed, list):
        return Outcome(request.category, text, None, tuple(f"schema: {f.rule}: {f.message}" for f in parsed))
    return Outcome(request.category, text, parsed, ())


def _generate(backend: Backend, batch: Sequence[Request], settings: GenerationSettings, first_line: int) -> list[Outcome]:
    """One backend batch, parsed; a failed request fails its batch's outcomes, and the run goes on."""
    conversations = [[{"role": "user", "content": r.prompt}] for r in batch]
    try:
        generations = backend.generate(conversations, settings)
    except GenerationError as error:
        return [Outcome(r.category, "", None, (f"generation: {error}",)) for r in batch]
    return [parse_generation(r, g.text, backend.model, first_line + i) for i, (r, g) in enumerate(zip(batch, generations))]


def synthesize(
    backend: Backend,
    requests: Sequence[Request],
    gate: QualityGate,
    settings: GenerationSettings,
    on_chunk: Callable[[SynthesisResult], None] = lambda result: None,
) -> SynthesisResult:
    """Generate every request in the backend's batches; gate and report them by chunks of at least
    ``GATE_CHUNK`` (the dedup gate compares all pairs of the existing data, which one request
    at a time from a served model would repeat for every answer)."""
    result = SynthesisResult(backend.model)
    size = max(1, backend.batch_size)
    chunk = max(size, GATE_CHUNK)
    with tqdm(total=len(requests), desc="synthesize", unit="dialogue", disable=None) as progress:
        for chunk_start in range(0, len(requests), chunk):
            outcomes: list[Outcome] = []
            for start in range(chunk_start, min(chunk_start + chunk, len(requests)), size):
                batch = requests[start : start + size]
                outcomes += _generate(backend, batch, replace(settings, seed=settings.seed + start), start + 1)
                progress.update(len(batch))
            ready = [i for i, o in enumerate(outcomes) if o.dialogue is not None and not o.reasons]
            for i, reasons in zip(ready, gate.judge([outcomes[i].dialogue for i in ready])):
                outcomes[i] = replace(outcomes[i], reasons=tuple(reasons))
            result.outcomes += outcomes
            progress.set_postfix(accepted=len(result.accepted), rejected=len(result.rejected))
            on_chunk(result)
    return result


def review_markdown(result: SynthesisResult) -> str:
    accepted = result.accepted
    lines = [
        "# Synthetic dialogues for review",
        "",
        f"Model: `{result.model}`. Generated {len(result.outcomes)}; the gate accepted {len(accepted)} "
        f"(in `{ACCEPTED_FILE}`) and rejected {len(result.rejected)} (in `{REJECTED_FILE}`, with the reasons).",
        "",
        "Check every claim of each dialogue below. Tick `- [x] accept <id>` for those that belong in",
        f"the dataset (fix them in `{ACCEPTED_FILE}` first if needed), then merge the ticked ones:",
        "",
        f"    farore data synthesize --accept-reviewed {REVIEW_FILE} --into DATASET.jsonl",
    ]
    for outcome in accepted:
        dialogue = outcome.dialogue
        lines += [
            "",
            "---",
            "",
            f"## {dialogue.id} ({dialogue.category})",
            "",
            f"- [ ] accept {dialogue.id}",
            "",
            "**User:**",
            "",
            dialogue.texts("user")[0],
            "",
            "**Assistant:**",
            "",
            dialogue.texts("assistant")[0],
        ]
    return "\n".join(lines) + "\n"


def write_outputs(directory: Path, result: SynthesisResult) -> None:
    """accepted.jsonl, rejected.jsonl and review.md, each written atomically."""
    write_jsonl(directory / ACCEPTED_FILE, (dialogue_record(o.dialogue) for o in result.accepted))
    write_jsonl(directory / REJECTED_FILE, (o.rejected_record() for o in result.rejected))
    atomic_write_text(directory / REVIEW_FILE, review_markdown(result))


_TICKED = re.compile(r"^- \[([ xX])\] accept (\S+)[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class MergeResult:
    into: Path
    added: tuple[str, ...]
    already_there: tuple[str, ...]
    unticked: int
    refused: tuple[tuple[str, str], ...]  # (id, reasons)


def merge_reviewed(review: Path, into: Path, cases: Sequence[Case]) -> MergeResult:
    """Append the ticked dialogues of a review file to ``into``, after the gate passes them again."""
    try:
        boxes = _TICKED.findall(review.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{review}: no such review file") from None
    if into.is_dir():
        raise DatasetError(f"{into}: a directory; --into takes the .jsonl file to merge into")
    accepted_path = review.parent / ACCEPTED_FILE
    if not accepted_path.is_file():
        raise DatasetError(f"{accepted_path}: missing; the review file must stay beside the {ACCEPTED_FILE} it lists")
    ticked = [identifier for mark, identifier in boxes if mark.lower() == "x"]
    reviewed = load_dataset(accepted_path)
    if reviewed.findings:
        raise DatasetError(f"{reviewed.findings[0]} (fix {accepted_path} before merging)")
    by_id = {d.id: d for d in reviewed.dialogues}
    unknown = [i for i in ticked if i not in by_id]
    if unknown:
        raise DatasetError(f"{review}: ticked {', '.join(unknown)}, which {accepted_path} does not hold")
    existing = load_dataset(into).dialogues if into.exists() else ()
    present = {d.id for d in existing}
    candidates = [by_id[i] for i in ticked if i not in present]
    verdicts = QualityGate(existing, cases).judge(candidates)
    added = [d for d, reasons in zip(candidates, verdicts) if not reasons]
    if added:
        text = into.read_text(encoding="utf-8") if into.exists() else ""
        if text and not text.endswith("\n"):
            text += "\n"
        atomic_write_text(into, text + "".join(json.dumps(dialogue_record(d), ensure_ascii=False) + "\n" for d in added))
    return MergeResult(
        into,
        tuple(d.id for d in added),
        tuple(i for i in ticked if i in present),
        len(boxes) - len(ticked),
        tuple((d.id, "; ".join(r)) for d, r in zip(candidates, verdicts) if r),
    )
