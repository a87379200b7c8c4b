"""The run directory and its manifest: what was trained, on what, from what, how it went.

A run directory (``runs/<name without farore:>/``)::

    manifest.json        this record (rewritten atomically after every change of state)
    config.yaml          the exact training configuration
    data/train.jsonl     the training dialogues as trained (and train-diagnosis.jsonl for stage 1)
    data/valid.jsonl     the validation dialogues
    adapter/             the final adapter (the best checkpoint of the last stage)
    diagnosis/adapter/   stage 1's adapter, in a two-stage run
    checkpoints/<stage>/ trainer checkpoints (what --resume continues from)
    eval/adapter/, eval/base/   benchmark reports, with --eval (and eval/diagnosis/ for stage 1)
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from farore.report import atomic_write_text
from farore.train.names import MAJOR_VERSION_RULE, MajorBump

MANIFEST = "manifest.json"
Status = Literal["pending", "running", "interrupted", "completed", "failed"]


class ManifestError(ValueError):
    pass


class DataRecord(BaseModel):
    file: str
    sources: list[str]
    sha256: str
    samples: int
    by_category: dict[str, int]
    by_source: dict[str, int]


class BaseModelRecord(BaseModel):
    spec: str
    #: What the adapters record as their base (portable: the embedded model by name).
    name: str
    path: str
    #: sha256 of the weight and config files (farore.backends.hf.file_digest).
    sha256: str
    #: For the embedded model: the GGUF it was converted from.
    gguf_sha256: str | None = None


class Point(BaseModel):
    step: int
    epoch: float
    loss: float


class HardwareRecord(BaseModel):
    """The device the stage trained on (its last part, if resumed elsewhere): seconds compare only on the same."""

    device: str
    threads: int
    bf16: bool


class StageRecord(BaseModel):
    name: str
    description: str
    train: DataRecord
    valid: DataRecord
    adapter: str
    checkpoints: str
    init_adapter: str | None = None
    status: Status = "pending"
    max_length: int | None = None
    steps: int = 0
    max_steps: int | None = None
    train_loss: list[Point] = []
    eval_loss: list[Point] = []
    best_checkpoint: str | None = None
    best_eval_loss: float | None = None
    #: The stage's training time, evaluations and checkpoint saves included.
    wall_time_s: float = 0.0
    #: Seconds inside optimizer steps only: what seconds_per_sample_pass divides.
    train_time_s: float = 0.0
    sample_passes: float = 0.0
    hardware: HardwareRecord | None = None
    error: str | None = None

    @property
    def seconds_per_sample_pass(self) -> float | None:
        return round(self.train_time_s / self.sample_passes, 3) if self.sample_passes else None


class CategoryComparison(BaseModel):
    """One category's score for every model benchmarked: one row of the printed table."""

    category: str
    base: float
    adapter: float
    #: The adapters of the stages before the last, by stage name (empty in a one-stage run).
    earlier_stages: dict[str, float] = {}


class StageScore(BaseModel):
    """An earlier stage's adapter on the same benchmark: what stage 2 of a two-stage run added.
    Its category scores are in ``EvalRecord.categories``, beside the base's and the adapter's."""

    stage: str
    report: str
    overall: float
    gate: bool


class EvalRecord(BaseModel):
    prompt_strategy: str
    adapter_report: str
    base_report: str
    categories: list[CategoryComparison]
    base_overall: float
    adapter_overall: float
    base_gate: bool
    adapter_gate: bool
    #: The adapters of the stages before the last, in training order (none in a one-stage run).
    earlier_stages: list[StageScore] = []


class Manifest(BaseModel):
    name: str
    #: The seed's rule for a new major version, and the reason this run claims one (None: no bump).
    major_version_rule: str = MAJOR_VERSION_RULE
    major_version_bump: MajorBump | None = None
    created: str
    status: Status = "running"
    error: str | None = None
    command: list[str]
    preset: str | None = None
    config: dict
    base_model: BaseModelRecord
    samples: int
    valid_source: Literal["file", "split"]
    data_gates: dict[str, str]
    two_stage: bool
    stages: list[StageRecord]
    adapter: str = "adapter"
    prompt_strategy: str
    wall_time_s: float = 0.0
    package_versions: dict[str, str | None]
    eval: EvalRecord | None = None

    def stage(self, name: str) -> StageRecord:
        return next(s for s in self.stages if s.name == name)


def now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def write_manifest(run_dir: Path, manifest: Manifest) -> Path:
    path = run_dir / MANIFEST
    atomic_write_text(path, manifest.model_dump_json(indent=2) + "\n")
    return path


def load_manifest(run_dir: Path) -> Manifest:
    path = run_dir / MANIFEST
    try:
        return Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ManifestError(f"{run_dir}: not a training run directory (no {MANIFEST})") from None
    except (json.JSONDecodeError, ValidationError) as error:
        raise ManifestError(f"{path}: not a valid training manifest: {error}") from None
