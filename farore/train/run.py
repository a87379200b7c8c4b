"""A training run from start to finish: gates, name, run directory, stages, manifest, benchmark.

``start_run`` spends no compute before the data has passed its gates; it writes the run
directory and its manifest, then hands over to ``continue_run``, which is also what ``farore train
--resume`` calls: it trains the stages not completed yet, each from its last checkpoint if it has
one, and keeps the manifest current after every change of state.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from farore.backends.embedded import CHECKPOINT_NAME, EMBEDDED_NAMES, embedded_checkpoint
from farore.backends.hf import file_digest, is_adapter, weight_files
from farore.cases import load_cases
from farore.prompts import load_strategy
from farore.report import atomic_write_text, package_versions
from farore.resources import default_cases_dir
from farore.train.config import TrainConfig, config_yaml
from farore.train.data import counts, digest, jsonl_text, load_training_data, records, with_system_prompt
from farore.train.evaluate import StageReport, compare, run_benchmark
from farore.train.manifest import (
    BaseModelRecord,
    DataRecord,
    HardwareRecord,
    Manifest,
    Point,
    StageRecord,
    load_manifest,
    now,
    write_manifest,
)
from farore.train.names import MajorBump, RunName
from farore.train.sft import BaseModel, StageJob, StageOutcome, TrainingError, train_stage
from farore.train.two_stage import stages

#: How adapters trained on the embedded model name their base: portable, and known to adapter_base.
EMBEDDED_BASE_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"
_GGUF_MARKER = "farore-source.json"


@dataclass(frozen=True)
class RunRequest:
    config: TrainConfig
    train_paths: Sequence[Path]
    valid_paths: Sequence[Path] = ()
    preset: str | None = None
    base: str = "embedded"
    tag: str | None = None
    two_stage: bool = False
    runs_dir: Path = Path("runs")
    cases: Sequence[Path] = ()
    allowed_gates: frozenset[str] = frozenset()
    major_bump: MajorBump | None = None
    prompt_strategy: str = "none"
    command: Sequence[str] = field(default_factory=lambda: list(sys.argv))


def resolve_base(spec: str) -> BaseModel:
    if spec in EMBEDDED_NAMES:
        return BaseModel("embedded", embedded_checkpoint(), EMBEDDED_BASE_NAME)
    path = Path(spec).resolve()
    if not (path / "config.json").is_file() or is_adapter(path):
        raise TrainingError(f"{spec}: the base must be 'embedded' or a transformers checkpoint directory (with config.json)")
    return BaseModel(str(path), path, str(path))


def base_record(base: BaseModel) -> BaseModelRecord:
    marker = base.path / _GGUF_MARKER
    gguf = json.loads(marker.read_text())["sha256"] if marker.is_file() else None
    name = CHECKPOINT_NAME if base.spec == "embedded" else base.portable_name
    return BaseModelRecord(
        spec=base.spec, name=name, path=str(base.path), sha256=file_digest(weight_files(base.path)), gguf_sha256=gguf
    )


def _data_record(run_dir: Path, relative: str, rows: Sequence[dict], sources: Sequence[str]) -> DataRecord:
    atomic_write_text(run_dir / relative, jsonl_text(rows))
    return DataRecord(
        file=relative,
        sources=list(sources),
        sha256=digest(rows),
        samples=len(rows),
        by_category=counts(rows, "category"),
        by_source=counts(rows, "source"),
    )


def read_rows(run_dir: Path, record: DataRecord) -> list[dict]:
    """A stage's dialogues from the run directory, refused if they changed since the run started."""
    path = run_dir / record.file
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if digest(rows) != record.sha256:
        raise TrainingError(f"{path}: changed since the run started (sha256 differs from the manifest)")
    return rows


def start_run(request: RunRequest) -> Path:
    """Gate the data, create the run directory and its manifest, then train; returns the run directory."""
    started = time.perf_counter()
    config = request.config
    cases = load_cases(list(request.cases) or default_cases_dir())
    data = load_training_data(
        request.train_paths,
        request.valid_paths,
        cases,
        config.valid_fraction,
        config.seed,
        request.allowed_gates,
        config.train_samples,
    )
    for line in data.gates.lines():
        print(line, file=sys.stderr)
    name = RunName.today(len(data.train), request.tag)
    run_dir = request.runs_dir / name.slug
    if run_dir.exists():
        raise TrainingError(
            f"{run_dir} exists already: name this run with --tag, continue that one with --resume {run_dir}, "
            "or choose another --runs-dir"
        )
    system = load_strategy(config.system_prompt).system if config.system_prompt else None
    train_rows = [with_system_prompt(r, system) for r in records(data.train)]
    valid_rows = [with_system_prompt(r, system) for r in records(data.valid)]
    base = resolve_base(request.base)
    train_sources, valid_sources = sorted({d.path for d in data.train}), sorted({d.path for d in data.valid})
    plan = stages(request.two_stage)
    stage_records = []
    for index, stage in enumerate(plan):
        last = index == len(plan) - 1
        suffix = "" if stage.name == "full" else f"-{stage.name}"
        stage_records.append(
            StageRecord(
                name=stage.name,
                description=stage.description,
                train=_data_record(run_dir, f"data/train{suffix}.jsonl", stage.transform(train_rows), train_sources),
                valid=_data_record(run_dir, f"data/valid{suffix}.jsonl", stage.transform(valid_rows), valid_sources),
                adapter="adapter" if last else f"{stage.name}/adapter",
                checkpoints=f"checkpoints/{stage.name}",
                init_adapter=stage_records[-1].adapter if stage_records else None,
            )
        )
    atomic_write_text(run_dir / "config.yaml", config_yaml(config))
    manifest = Manifest(
        name=str(name),
        major_version_bump=request.major_bump,
        created=now(),
        command=list(request.command),
        preset=request.preset,
        config=config.model_dump(mode="json"),
        base_model=base_record(base),
        samples=len(train_rows),
        valid_source=data.valid_source,
        data_gates={g.name: f"{'PASS' if g.passed else 'allowed to fail'}: {g.summary}" for g in data.gates.gates},
        two_stage=request.two_stage,
        stages=stage_records,
        prompt_strategy=request.prompt_strategy,
        wall_time_s=round(time.perf_counter() - started, 3),
        package_versions=package_versions(),
    )
    write_manifest(run_dir, manifest)
    continue_run(run_dir)
    return run_dir


def _last_checkpoint(directory: Path) -> Path | None:
    found = [p for p in directory.glob("checkpoint-*") if p.name.removeprefix("checkpoint-").isdigit()]
    return max(found, key=lambda p: int(p.name.removeprefix("checkpoint-")), default=None)


def _record_outcome(stage: StageRecord, outcome: StageOutcome) -> None:
    stage.max_length = outcome.max_length
    stage.steps = outcome.steps
    stage.max_steps = outcome.max_steps
    stage.train_loss = [Point(step=p.step, epoch=p.epoch, loss=p.loss) for p in outcome.train_curve]
    stage.eval_loss = [Point(step=p.step, epoch=p.epoch, loss=p.loss) for p in outcome.eval_curve]
    stage.best_checkpoint = outcome.best_checkpoint
    stage.best_eval_loss = outcome.best_eval_loss
    stage.wall_time_s = round(stage.wall_time_s + outcome.runtime_s, 3)
    stage.train_time_s = round(stage.train_time_s + outcome.train_time_s, 3)
    stage.sample_passes = round(stage.sample_passes + outcome.sample_passes, 3)
    stage.hardware = HardwareRecord(**asdict(outcome.hardware))


def continue_run(run_dir: Path) -> Manifest:
    """Train every stage not completed yet, from its last checkpoint when it has one."""
    started = time.perf_counter()
    manifest = load_manifest(run_dir)
    config = TrainConfig.model_validate(manifest.config)
    base = resolve_base(manifest.base_model.spec)
    if file_digest(weight_files(base.path)) != manifest.base_model.sha256:
        raise TrainingError(f"{base.path}: the base model's weights changed since the run started")

    def save(status: str, error: str | None = None) -> None:
        """Record the state and the wall time spent since the last save."""
        nonlocal started
        manifest.status, manifest.error = status, error
        manifest.wall_time_s = round(manifest.wall_time_s + time.perf_counter() - started, 3)
        started = time.perf_counter()
        write_manifest(run_dir, manifest)

    for stage in manifest.stages:
        if stage.status == "completed":
            continue
        job = StageJob(
            name=stage.name,
            train=read_rows(run_dir, stage.train),
            valid=read_rows(run_dir, stage.valid),
            checkpoints=run_dir / stage.checkpoints,
            adapter=run_dir / stage.adapter,
            init_adapter=run_dir / stage.init_adapter if stage.init_adapter else None,
        )
        stage.status = "running"
        save("running")
        try:
            outcome = train_stage(job, config, base, resume_from=_last_checkpoint(job.checkpoints))
        except KeyboardInterrupt:
            stage.status = "interrupted"
            save("interrupted", "aborted by a second Ctrl-C: resuming starts from the last saved checkpoint")
            raise
        except TrainingError as error:
            stage.status, stage.error = "failed", str(error)
            save("failed", f"stage {stage.name}: {error}")
            raise
        _record_outcome(stage, outcome)
        if outcome.interrupted:
            stage.status = "interrupted"
            save("interrupted", f"interrupted at step {outcome.steps}: farore train --resume {run_dir}")
            return manifest
        stage.status = "completed"
        save("running")
    save("completed")
    return manifest


def evaluate_run(run_dir: Path, strategy: str, cases: Sequence[Path] = (), max_new_tokens: int | None = None) -> Manifest:
    """Benchmark the run's adapter, its earlier stages' and its base model with one strategy; the
    comparison goes in the manifest."""
    manifest = load_manifest(run_dir)
    if manifest.status != "completed":
        raise TrainingError(f"{run_dir}: the run is {manifest.status}, not completed; nothing to benchmark yet")
    adapter_dir, base_dir = run_dir / "eval" / "adapter", run_dir / "eval" / "base"
    base_spec = "embedded" if manifest.base_model.spec == "embedded" else manifest.base_model.path
    adapter_report = run_benchmark(str(run_dir / manifest.adapter), strategy, adapter_dir, cases, max_new_tokens)
    earlier = []
    for stage in manifest.stages[:-1]:
        stage_dir = run_dir / "eval" / stage.name
        report = run_benchmark(str(run_dir / stage.adapter), strategy, stage_dir, cases, max_new_tokens)
        earlier.append(StageReport(stage.name, report, stage_dir))
    base_report = run_benchmark(base_spec, strategy, base_dir, cases, max_new_tokens)
    manifest.eval = compare(strategy, base_report, adapter_report, base_dir, adapter_dir, run_dir, earlier)
    write_manifest(run_dir, manifest)
    return manifest
