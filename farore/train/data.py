"""The training data: loaded, put through the dataset gates before any compute, split, recorded.

Every gate of ``farore data check`` runs on the training and validation dialogues together (so
that a validation dialogue duplicating a training one is caught too). A failing gate stops the
run, except the ones named in ``allowed`` (e.g. balance on a small trial slice), which are then
reported as warnings; contamination can never be allowed: training on benchmark cases fakes the
score the whole project exists to measure.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from farore.cases import Case, categories
from farore.dataset.balance import UNLABELLED, measure_balance
from farore.dataset.commands import (
    Gate,
    balance_gate,
    contamination_gate,
    coverage_gate,
    cues_gate,
    dedup_gate,
    format_gate,
    schema_gate,
)
from farore.dataset.contamination import find_contamination
from farore.dataset.coverage import measure_coverage
from farore.dataset.cues import measure_cues
from farore.dataset.dedup import find_duplicates
from farore.dataset.format import check_format
from farore.dataset.schema import Dialogue, dialogue_record, load_dataset
from farore.train.config import ConfigError

GATES = ("schema", "format", "dedup", "balance", "contamination", "cues", "coverage")
NEVER_ALLOWED = frozenset({"contamination"})


class DataGateError(RuntimeError):
    """The dataset failed a gate: no training on it."""


@dataclass(frozen=True)
class GateReport:
    gates: tuple[Gate, ...]
    allowed: frozenset[str]

    @property
    def blocking(self) -> tuple[Gate, ...]:
        return tuple(g for g in self.gates if not g.passed and g.name not in self.allowed)

    def lines(self) -> list[str]:
        lines = []
        for gate in self.gates:
            verdict = "PASS" if gate.passed else ("warn" if gate.name in self.allowed else "FAIL")
            lines.append(f"data {gate.name}: {verdict}  {gate.summary}")
            if not gate.passed:
                lines += [f"  {finding}" for finding in gate.findings]
                lines += [f"  {problem}" for problem in gate.problems]
        return lines


def run_gates(dialogues: Sequence[Dialogue], dataset, cases: Sequence[Case], allowed: frozenset[str]) -> GateReport:
    forbidden = allowed & NEVER_ALLOWED
    if forbidden:
        raise DataGateError(f"the {', '.join(sorted(forbidden))} gate cannot be allowed to fail")
    unknown = allowed - set(GATES)
    if unknown:
        raise DataGateError(f"unknown data gate(s) {', '.join(sorted(unknown))}; gates: {', '.join(GATES)}")
    gates = (
        schema_gate(dataset),
        format_gate(check_format(dialogues, strict=True)),
        dedup_gate(find_duplicates(dialogues)),
        balance_gate(measure_balance(dialogues, categories(cases))),
        contamination_gate(find_contamination(dialogues, cases)),
        cues_gate(measure_cues(dialogues, cases)),
        coverage_gate(measure_coverage(dialogues, cases)),
    )
    return GateReport(gates, allowed)


@dataclass(frozen=True)
class TrainingData:
    train: tuple[Dialogue, ...]
    valid: tuple[Dialogue, ...]
    #: "file" when validation dialogues came from --valid, "split" when held out of the training files.
    valid_source: str
    gates: GateReport


def _indices_by_category(dialogues: Sequence[Dialogue]) -> dict[str, list[int]]:
    by_category: dict[str, list[int]] = defaultdict(list)
    for index, dialogue in enumerate(dialogues):
        by_category[dialogue.category or UNLABELLED].append(index)
    return by_category


def split_validation(dialogues: Sequence[Dialogue], fraction: float, seed: int) -> tuple[list[Dialogue], list[Dialogue]]:
    """Hold out ``fraction`` of every category (at least one dialogue overall), seeded."""
    by_category = _indices_by_category(dialogues)
    rng = random.Random(seed)
    held: set[int] = set()
    for category in sorted(by_category):
        group = by_category[category]
        held.update(rng.sample(group, k=min(len(group) - 1, round(fraction * len(group)))))
    if not held and len(dialogues) > 1:
        held.add(rng.randrange(len(dialogues)))
    return [d for i, d in enumerate(dialogues) if i not in held], [d for i, d in enumerate(dialogues) if i in held]


def stratified_sample(dialogues: Sequence[Dialogue], size: int, seed: int) -> list[Dialogue]:
    """``size`` of the dialogues, seeded, each category keeping its share (largest remainder), in file order.

    A smaller run then trains on the same mix of bug types as the whole set, not on the first lines.
    """
    if not 0 < size <= len(dialogues):
        raise ConfigError(f"train_samples: {size} is not between 1 and the {len(dialogues)} training dialogues")
    by_category = _indices_by_category(dialogues)
    exact = {category: size * len(group) / len(dialogues) for category, group in by_category.items()}
    quota = {category: int(share) for category, share in exact.items()}
    by_remainder = sorted(exact, key=lambda category: (quota[category] - exact[category], category))
    for category in by_remainder[: size - sum(quota.values())]:
        quota[category] += 1
    rng = random.Random(seed)
    chosen = {index for category in sorted(by_category) for index in rng.sample(by_category[category], k=quota[category])}
    return [d for i, d in enumerate(dialogues) if i in chosen]


def load_training_data(
    train_paths: Sequence[Path],
    valid_paths: Sequence[Path],
    cases: Sequence[Case],
    valid_fraction: float,
    seed: int,
    allowed: frozenset[str] = frozenset(),
    train_samples: int | None = None,
) -> TrainingData:
    """Load, gate (raising DataGateError with every blocking finding) and split the dialogues.

    With ``train_samples``, only a stratified sample of that many training dialogues is kept (the
    gates still judge the whole dataset, and the validation dialogues stay the same).
    """
    dataset = load_dataset([*train_paths, *valid_paths])
    report = run_gates(dataset.dialogues, dataset, cases, allowed)
    if report.blocking:
        names = ", ".join(g.name for g in report.blocking)
        raise DataGateError("\n".join([*report.lines(), f"the dataset failed the {names} gate(s): nothing was trained"]))
    valid_files = {str(path) for path in load_dataset(list(valid_paths)).files} if valid_paths else set()
    if valid_files:
        train = [d for d in dataset.dialogues if d.path not in valid_files]
        valid = [d for d in dataset.dialogues if d.path in valid_files]
        source = "file"
    else:
        train, valid = split_validation(dataset.dialogues, valid_fraction, seed)
        source = "split"
    if train_samples is not None:
        train = stratified_sample(train, train_samples, seed)
    if not train or not valid:
        raise DataGateError(f"training needs at least one training and one validation dialogue ({len(train)}, {len(valid)})")
    return TrainingData(tuple(train), tuple(valid), source, report)


def with_system_prompt(record: dict, system: str | None) -> dict:
    """The record with ``system`` as its first message when it has no system message of its own."""
    messages = record["messages"]
    if system is None or messages[0]["role"] == "system":
        return record
    return {**record, "messages": [{"role": "system", "content": system}, *messages]}


def records(dialogues: Sequence[Dialogue]) -> list[dict]:
    return [dialogue_record(d) for d in dialogues]


def jsonl_text(rows: Sequence[dict]) -> str:
    """The JSONL text of ``rows``, byte for byte as ``farore.dataset.schema.write_jsonl`` writes it."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def digest(rows: Sequence[dict]) -> str:
    """sha256 of the rows' JSONL text: the dataset's identity in the manifest."""
    return hashlib.sha256(jsonl_text(rows).encode("utf-8")).hexdigest()


def counts(rows: Sequence[dict], key: str) -> dict[str, int]:
    return dict(Counter(row.get(key) or UNLABELLED for row in rows).most_common())
