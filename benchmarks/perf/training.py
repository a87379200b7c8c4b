"""Training speed on the embedded model: farore's tuned setup against a plain SFTTrainer.

    python benchmarks/perf/training.py [--samples 20] [--epochs 1] [--preset small-cpu]
                                       [--set FIELD=VALUE ...] [--plain VARIANT ...] [--repeats 1]
                                       [--data PATH]

Both train on the same first N dialogues of the curated training set (validation: the first four
of the curated validation set):

* plain: trl's SFTTrainer with the seed's settings (LoRA r=16/alpha 32 on q/k/v/o, batch 1 x 16,
  lr 3e-4, max_length 1024) and trl's defaults for everything the seed leaves unsaid (gradient
  checkpointing, the loss over the whole sequence, bf16 autocast), plus ``use_cpu=True``, which
  trl demands on a machine without a GPU. Two variants (``--plain``, both by default):
  ``trl-defaults`` as just said, and ``fp32``, the same with ``bf16=False``: on a CPU without native
  bf16, trl's bf16 autocast falls back to a slow single-threaded matrix product, and turning it off
  is the one-flag fix any user would find, so the ratio against ``fp32`` is what the rest of the
  tuning is worth;
* tuned: ``farore.train.sft.train_stage`` with the preset (``--set`` overrides a field, e.g.
  ``--set bf16=true``).

``--threads N`` gives both runs N torch threads: on a machine whose cores are busy with other work,
fewer threads than cores avoid the OpenMP threads waiting on each other.

Prints, for each, seconds per sample-pass: the time inside optimizer steps (forward, backward,
update; evaluations and checkpoint saves left out) divided by dialogues x epochs; then the ratio.
With --repeats, the two alternate, so that a shared machine's load falls on both alike.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from farore.dataset.schema import dialogue_record, load_dataset, shipped_dataset_dir
from farore.train.config import TrainConfig, load_preset, with_overrides
from farore.train.run import resolve_base
from farore.train.sft import StageJob, current_hardware, import_training_stack, quiet_libraries, train_stage


def load_rows(path: Path, count: int | None = None) -> list[dict]:
    """The first ``count`` dialogues of a dataset (all by default); a bad line stops the script."""
    dataset = load_dataset(path)
    if dataset.findings:
        sys.exit("\n".join(map(str, dataset.findings)))
    rows = [dialogue_record(d) for d in dataset.dialogues]
    wanted = count or 1  # all of them, but at least one
    if len(rows) < wanted:
        sys.exit(f"{path}: {len(rows)} dialogues, fewer than the {wanted} asked for")
    return rows[:count]


def machine(torch) -> str:
    """What the seconds were measured on, to print beside them."""
    return (
        f"{torch.get_num_threads()} torch thread(s) on {current_hardware(torch, bf16=False).device}, "
        f"load average {os.getloadavg()[0]:.1f} at the start"
    )


PLAIN_VARIANTS = {"trl-defaults": {}, "fp32": {"bf16": False}}


def plain(train: list[dict], valid: list[dict], epochs: float, work: Path, variant: str) -> tuple[float, float]:
    """(seconds per sample-pass, wall seconds) of trl's SFTTrainer with the seed's settings."""
    torch, transformers, peft, trl, datasets = import_training_stack()
    from farore.train.trainer import StepClock

    base = resolve_base("embedded")
    seed = TrainConfig(epochs=epochs)
    arguments = trl.SFTConfig(
        **seed.seed_arguments(max_length=1024),
        **PLAIN_VARIANTS[variant],
        output_dir=str(work / variant),
        use_cpu=True,
        report_to=[],
        disable_tqdm=True,
    )
    clock = StepClock()
    trainer = trl.SFTTrainer(
        model=transformers.AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32),
        args=arguments,
        train_dataset=datasets.Dataset.from_list([{"messages": r["messages"]} for r in train]),
        eval_dataset=datasets.Dataset.from_list([{"messages": r["messages"]} for r in valid]),
        processing_class=transformers.AutoTokenizer.from_pretrained(base.path),
        peft_config=seed.lora.peft_config(),
        callbacks=[clock],
    )
    started = time.perf_counter()
    trainer.train()
    return clock.seconds / (epochs * len(train)), time.perf_counter() - started


def tuned(train: list[dict], valid: list[dict], config, work: Path) -> tuple[float, float]:
    job = StageJob("tuned", train, valid, work / "tuned" / "checkpoints", work / "tuned" / "adapter")
    outcome = train_stage(job, config, resolve_base("embedded"))
    return outcome.seconds_per_sample_pass, outcome.runtime_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--preset", default="small-cpu")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a field of the preset")
    parser.add_argument(
        "--plain", action="append", choices=list(PLAIN_VARIANTS), help="plain SFTTrainer variant(s) to time (default: all)"
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, help="torch CPU threads for both runs (default: torch's choice)")
    parser.add_argument("--data", type=Path, default=shipped_dataset_dir() / "train.jsonl")
    parser.add_argument("--valid", type=Path, default=shipped_dataset_dir() / "valid.jsonl")
    args = parser.parse_args()
    train, valid = load_rows(args.data, args.samples), load_rows(args.valid, 4)  # a bad dataset stops before the imports
    torch, transformers, _, _, datasets = import_training_stack()

    overrides = dict(item.split("=", 1) for item in args.set)
    if args.threads:
        torch.set_num_threads(args.threads)
        overrides["threads"] = str(args.threads)
    config = with_overrides(load_preset(args.preset), {**overrides, "epochs": str(args.epochs)})
    quiet_libraries(transformers, datasets)
    print(
        f"training speed: embedded model, {len(train)} dialogues x {args.epochs:g} epoch(s), {args.repeats} repeat(s), "
        + machine(torch)
    )
    print(f"  tuned = preset {args.preset}" + (f" with {', '.join(args.set)}" if args.set else ""))
    variants = list(dict.fromkeys(args.plain or PLAIN_VARIANTS))  # each variant once, in the order asked
    results: dict[str, list[tuple[float, float]]] = {f"plain {v}": [] for v in variants} | {"tuned": []}
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="farore-perf-") as work:
            for variant in variants:
                results[f"plain {variant}"].append(plain(train, valid, args.epochs, Path(work), variant))
            results["tuned"].append(tuned(train, valid, config, Path(work)))
        for name, runs in results.items():
            per_pass, wall = runs[-1]
            print(f"  run {repeat + 1} {name:18}: {per_pass:6.2f} s per sample-pass ({wall:.0f} s wall, evaluations included)")
    best = {name: min(per_pass for per_pass, _ in runs) for name, runs in results.items()}
    print("  best: " + "; ".join(f"{name} {per_pass:.2f}" for name, per_pass in best.items()) + " s per sample-pass")
    for variant in variants:
        print(f"  ratio plain {variant} / tuned: {best[f'plain {variant}'] / best['tuned']:.2f}x")


if __name__ == "__main__":
    main()
