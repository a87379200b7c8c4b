"""``farore train`` and ``farore export``.

    farore train [--preset NAME | --config FILE] [--FIELD VALUE ...] [--data PATH ...] [--valid PATH ...]
                 [--base embedded|DIR] [--tag TAG] [--two-stage] [--eval] [--prompt-strategy S]
                 [--cases PATH ...] [--allow-gate GATE ...] [--major-bump REASON] [--runs-dir DIR]
    farore train --resume RUN_DIR [--eval ...]
    farore export RUN_DIR [--prompt-strategy S] [--output DIR]

Every field of the training config is also a flag (``--learning-rate 1e-3``, ``--lora-r 8``,
``--lora-target-modules all-linear``, ``--max-length data``); values are read as YAML scalars.
Exit status: 0 done, 1 a gate or the training failed, 2 unusable input, 130 interrupted (resumable).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from farore.backends.base import BackendError
from farore.cases import CaseFileError
from farore.dataset.schema import DatasetError, shipped_dataset_dir
from farore.prompts import UnknownStrategyError
from farore.train.chatml import TemplateError
from farore.train.config import (
    ConfigError,
    TrainConfig,
    available_presets,
    load_config_file,
    load_preset,
    override_fields,
    with_overrides,
)
from farore.train.data import GATES, DataGateError
from farore.train.evaluate import BenchmarkError, comparison_lines
from farore.train.export import ExportError, export_run
from farore.train.manifest import Manifest, ManifestError, load_manifest
from farore.train.names import MajorBump, RunNameError
from farore.train.run import RunRequest, continue_run, evaluate_run, start_run
from farore.train.sft import TrainingError

FAILED, USAGE, INTERRUPTED = 1, 2, 130
_USAGE_ERRORS = (
    ConfigError, BackendError, ManifestError, RunNameError, DatasetError, CaseFileError, UnknownStrategyError,
    ExportError, TemplateError,
)
_FAILURES = (DataGateError, TrainingError, BenchmarkError)


def _flag(dotted: str) -> str:
    return "--" + dotted.replace(".", "-").replace("_", "-")


def _config(args: argparse.Namespace) -> tuple[TrainConfig, str | None]:
    if args.config:
        config, preset = load_config_file(args.config), None
    elif args.preset:
        config, preset = load_preset(args.preset), args.preset
    else:
        config, preset = TrainConfig(), None
    return with_overrides(config, _overrides(args)), preset


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    return {dotted: value for dotted in override_fields() if (value := getattr(args, f"set_{dotted}")) is not None}


def _stage_lines(manifest: Manifest) -> list[str]:
    lines = []
    for stage in manifest.stages:
        line = f"stage {stage.name}: {stage.status}, {stage.steps}/{stage.max_steps} steps in {stage.wall_time_s:.0f} s"
        if stage.seconds_per_sample_pass:
            line += f" ({stage.seconds_per_sample_pass:.2f} s per sample-pass, max length {stage.max_length}"
            if stage.hardware:
                precision = "bf16" if stage.hardware.bf16 else "fp32"
                line += f"; {stage.hardware.device}, {stage.hardware.threads} threads, {precision}"
            line += ")"
        if stage.train_loss:
            line += f"; train loss {stage.train_loss[0].loss:.3f} -> {stage.train_loss[-1].loss:.3f}"
        if stage.eval_loss and stage.best_eval_loss is not None:
            line += f"; validation loss {stage.eval_loss[0].loss:.3f} -> best {stage.best_eval_loss:.3f}"
        lines.append(line)
    return lines


def _train(args: argparse.Namespace) -> int:
    if args.resume:
        chosen = (args.preset, args.config, args.data, args.valid, args.tag, args.two_stage, args.major_bump, args.allow_gate)
        if _overrides(args) or any(chosen) or args.base != "embedded":
            raise ConfigError("--resume continues a run with its own config and data; drop the other training options")
        run_dir = args.resume
        manifest = continue_run(run_dir)
    else:
        config, preset = _config(args)
        request = RunRequest(
            config=config,
            train_paths=args.data or [shipped_dataset_dir() / "train.jsonl"],
            valid_paths=args.valid or ([] if args.data else [shipped_dataset_dir() / "valid.jsonl"]),
            preset=preset,
            base=args.base,
            tag=args.tag,
            two_stage=args.two_stage,
            runs_dir=args.runs_dir,
            cases=args.cases or [],
            allowed_gates=frozenset(args.allow_gate or ()),
            major_bump=MajorBump(args.major_bump) if args.major_bump else None,
            prompt_strategy=args.prompt_strategy or config.system_prompt or "none",
        )
        run_dir = start_run(request)
        manifest = load_manifest(run_dir)
    print(f"{manifest.name}  ({run_dir})")
    for line in _stage_lines(manifest):
        print(line)
    print(f"wall time {manifest.wall_time_s:.0f} s")
    if manifest.status == "interrupted":
        print(f"interrupted; continue with: farore train --resume {run_dir}", file=sys.stderr)
        return INTERRUPTED
    adapter = run_dir / manifest.adapter
    print(f"adapter: {adapter}")
    strategy = args.prompt_strategy or manifest.prompt_strategy
    if args.eval:
        manifest = evaluate_run(run_dir, strategy, args.cases or [], args.eval_max_new_tokens)
        for line in comparison_lines(manifest.eval):
            print(line)
    else:
        print(f"next: farore eval --model {adapter} --prompt-strategy {strategy}")
    print(f"export: farore export {run_dir}")
    return 0


def _export(args: argparse.Namespace) -> int:
    export = export_run(args.run_dir, args.prompt_strategy, args.output)
    print(f"merged checkpoint: {export.merged}")
    print(f"Modelfile: {export.modelfile}")
    print(export.command)
    return 0


def _guarded(command):
    """One clear message per error, and an exit status that says which kind it was."""

    def run(args: argparse.Namespace) -> int:
        name = f"farore {args.command}"
        try:
            return command(args)
        except _USAGE_ERRORS as error:
            print(f"{name}: {error}", file=sys.stderr)
            return USAGE
        except _FAILURES as error:
            print(f"{name}: {error}", file=sys.stderr)
            return FAILED
        except KeyboardInterrupt:
            print(f"{name}: aborted", file=sys.stderr)
            return INTERRUPTED

    return run


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training config (override the preset or config file)")
    for dotted, info in override_fields().items():
        default = info.get_default(call_default_factory=True)
        shown = "" if default is None else f" (default: {default})"  # a None default is explained in the description
        group.add_argument(_flag(dotted), dest=f"set_{dotted}", metavar="VALUE", help=f"{info.description or dotted}{shown}")


def register(subparsers) -> None:
    train = subparsers.add_parser(
        "train",
        help="LoRA fine-tuning on a validated dataset (the dataset gates run first)",
        description=__doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = train.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=sorted(available_presets()), help="a named config in fixtures/train/")
    source.add_argument("--config", type=Path, help="a training config YAML file")
    source.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue an interrupted run")
    train.add_argument("--data", type=Path, action="append", help="training JSONL file or directory (default: the shipped curated set)")
    train.add_argument("--valid", type=Path, action="append", help="validation JSONL (default: split off the training data)")
    train.add_argument("--base", default="embedded", help="embedded (default) or a local checkpoint directory")
    train.add_argument("--tag", help="the run name's tag: farore:YYYY-MM-DD-NNNsamples-TAG")
    train.add_argument("--two-stage", action="store_true", help="stage 1 on diagnosis-only answers, stage 2 on full answers")
    train.add_argument("--eval", action="store_true", help="benchmark the adapter and the base model afterwards")
    train.add_argument(
        "--prompt-strategy",
        help="strategy for --eval and for export (default: the config's system_prompt, else none: "
        "a model is benchmarked with the system prompt it was trained with)",
    )
    train.add_argument("--cases", type=Path, action="append", help="benchmark cases for the contamination gate and --eval")
    train.add_argument("--eval-max-new-tokens", type=int, help="answer length limit for --eval")
    train.add_argument("--allow-gate", action="append", choices=[g for g in GATES if g != "contamination"], help="report this data gate's failure as a warning (not contamination)")
    train.add_argument("--major-bump", choices=[m.value for m in MajorBump], help="the seed's reason for a new major version, if any")
    train.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where run directories go (default runs/)")
    _add_config_flags(train)
    train.set_defaults(func=_guarded(_train))

    export = subparsers.add_parser("export", help="merge a run's adapter into its base and write an Ollama Modelfile")
    export.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    export.add_argument("--prompt-strategy", help="SYSTEM prompt strategy (default: the run's)")
    export.add_argument("--output", type=Path, help="where merged/ and Modelfile go (default RUN_DIR/export)")
    export.set_defaults(func=_guarded(_export))
