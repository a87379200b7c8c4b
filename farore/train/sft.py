"""One LoRA training stage with trl's SFTTrainer.

* the loss covers the assistant turns only (``assistant_only_loss`` with the chat template's
  ``{% generation %}`` markers; see ``farore.train.chatml``);
* the validation split is evaluated every ``eval_steps`` (and once before the first step), the
  checkpoint with the lowest validation loss is the adapter kept;
* seeded (LoRA initialisation, data order, dropout), fp32 unless bf16 is asked for and the hardware
  has it, CPU or GPU;
* a progress bar with the loss, the validation loss and the ETA; the first Ctrl-C finishes the
  current step, saves a checkpoint and stops (``farore train --resume`` continues from it), a
  second one aborts; a non-finite loss stops the run at once with a clear message.

The adapter records its base model portably: the embedded model by its Hugging Face name (which
``farore.backends.hf.adapter_base`` maps to the local checkpoint), any other base by its path.
"""

from __future__ import annotations

import json
import platform
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from farore.backends.base import BackendError
from farore.backends.hf import import_torch_stack
from farore.train.chatml import training_template
from farore.train.config import TrainConfig

INSTALL_TRAIN = 'pip install -e ".[train]"'


class TrainingError(RuntimeError):
    """Training cannot start or cannot go on; the message says why and what to do."""


class NonFiniteLoss(TrainingError):
    pass


@dataclass(frozen=True)
class BaseModel:
    """The model a run trains on: its local checkpoint and the name its adapters record."""

    spec: str
    path: Path
    portable_name: str


@dataclass(frozen=True)
class StageJob:
    name: str
    train: Sequence[dict]
    valid: Sequence[dict]
    checkpoints: Path
    adapter: Path
    #: An adapter to continue training (stage 2 starts from stage 1's).
    init_adapter: Path | None = None


@dataclass(frozen=True)
class CurvePoint:
    step: int
    epoch: float
    loss: float


@dataclass(frozen=True)
class Hardware:
    """What a stage's seconds were measured on: the same run took 0.99 s per sample-pass on one
    2-core machine and 2.2 s on another (AVX2 only, no native bf16)."""

    device: str
    threads: int
    bf16: bool


@dataclass
class StageOutcome:
    interrupted: bool
    max_length: int
    steps: int
    max_steps: int
    runtime_s: float
    #: Seconds inside optimizer steps only (no evaluation, no checkpoint saving).
    train_time_s: float
    sample_passes: float
    hardware: Hardware
    train_curve: list[CurvePoint] = field(default_factory=list)
    eval_curve: list[CurvePoint] = field(default_factory=list)
    best_checkpoint: str | None = None
    best_eval_loss: float | None = None

    @property
    def seconds_per_sample_pass(self) -> float | None:
        return self.train_time_s / self.sample_passes if self.sample_passes else None


def import_training_stack():
    torch, transformers = import_torch_stack()
    try:
        import datasets
        import peft
        import trl
    except ImportError as error:
        raise BackendError(f"training needs trl, peft and datasets ({error.name} is missing): {INSTALL_TRAIN}") from None
    return torch, transformers, peft, trl, datasets


def quiet_libraries(transformers, datasets) -> None:
    """Our progress bar is the one to watch: no per-map bars or weight-loading bars."""
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    # trl still asks the model under the old name; the setting itself is passed under the new one.
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)


def cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def bf16_supported(torch) -> bool:
    """A GPU with bf16, or a CPU whose instructions compute in bf16 natively (AVX512-BF16 or AMX):
    where oneDNN would only emulate bf16, mixed precision is slower than fp32."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    flags = cpuinfo().split()
    native = "avx512_bf16" in flags or "amx_bf16" in flags
    return native and torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def resolve_bf16(setting: bool | str, torch) -> bool:
    supported = bf16_supported(torch)
    if setting is True and not supported:
        raise TrainingError("bf16: true, but this hardware has no bf16 support; use bf16: auto or false")
    return supported if setting == "auto" else bool(setting)


def current_hardware(torch, bf16: bool) -> Hardware:
    """The GPU's name, or the CPU's model name and the vector instructions torch uses on it."""
    if torch.cuda.is_available():
        device = torch.cuda.get_device_name()
    else:
        names = [line.split(":", 1)[1].strip() for line in cpuinfo().splitlines() if line.startswith("model name")]
        device = f"{names[0] if names else platform.processor() or 'CPU'} ({torch.backends.cpu.get_cpu_capability()})"
    return Hardware(device=device, threads=torch.get_num_threads(), bf16=bf16)


def token_lengths(tokenizer, rows: Sequence[dict]) -> list[int]:
    return [len(tokenizer.apply_chat_template(r["messages"], tokenize=True, return_dict=True)["input_ids"]) for r in rows]


def resolve_max_length(config: TrainConfig, lengths: Sequence[int]) -> int:
    """The configured limit, or the longest dialogue; padding-free training cannot cut, so it refuses."""
    longest = max(lengths)
    if config.max_length == "data":
        return longest
    over = sum(length > config.max_length for length in lengths)
    if over and config.padding_free:
        raise TrainingError(
            f"{over} dialogues are longer than max_length {config.max_length} (the longest has {longest} tokens) "
            "and padding-free training does not cut them: set max_length to 'data' or to at least that"
        )
    if over:
        print(f"note: {over} dialogues are cut to max_length {config.max_length} (the longest has {longest} tokens)", file=sys.stderr)
    return config.max_length


def sft_arguments(config: TrainConfig, output_dir: Path, max_length: int, bf16: bool, use_cpu: bool, eval_on_start: bool):
    from trl import SFTConfig

    seed_arguments = config.seed_arguments(max_length)
    # trl does not cut padding-free batches; resolve_max_length has checked that nothing needs cutting.
    if config.padding_free:
        seed_arguments["max_length"] = None
    return SFTConfig(
        **seed_arguments,
        output_dir=str(output_dir),
        per_device_eval_batch_size=config.batch_size,
        # Only the validation loss is used; kept logits would be gathered over the whole split.
        prediction_loss_only=True,
        eval_on_start=eval_on_start,
        save_total_limit=2,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        seed=config.seed,
        data_seed=config.seed,
        assistant_only_loss=config.assistant_only_loss,
        padding_free=config.padding_free,
        activation_checkpointing=config.gradient_checkpointing,
        bf16=bf16,
        fp16=False,
        use_cpu=use_cpu,
        logging_nan_inf_filter=False,
        disable_tqdm=True,
        report_to=[],
    )


def load_tokenizer(base: BaseModel):
    _, transformers = import_torch_stack()
    return transformers.AutoTokenizer.from_pretrained(base.path)


def make_portable(adapter_dir: Path, base_name: str) -> None:
    """Record the base model by ``base_name`` in adapter_config.json (not this machine's path)."""
    from farore.report import atomic_write_text

    config_path = adapter_dir / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = base_name
    atomic_write_text(config_path, json.dumps(config, indent=2, sort_keys=True))


def _curves(log_history: Sequence[dict]) -> tuple[list[CurvePoint], list[CurvePoint]]:
    train = [CurvePoint(e["step"], round(e.get("epoch", 0.0), 4), e["loss"]) for e in log_history if "loss" in e]
    valid = [CurvePoint(e["step"], round(e.get("epoch", 0.0), 4), e["eval_loss"]) for e in log_history if "eval_loss" in e]
    return train, valid


def train_stage(job: StageJob, config: TrainConfig, base: BaseModel, resume_from: Path | None = None) -> StageOutcome:
    """Train one stage; its best adapter goes to ``job.adapter`` unless the run was interrupted."""
    torch, transformers, peft, trl, datasets = import_training_stack()
    quiet_libraries(transformers, datasets)
    if config.threads:
        torch.set_num_threads(config.threads)
    use_cpu = not torch.cuda.is_available()
    bf16 = resolve_bf16(config.bf16, torch)
    tokenizer = load_tokenizer(base)
    base_template = tokenizer.chat_template
    if config.assistant_only_loss:
        tokenizer.chat_template = training_template(tokenizer) or base_template
    max_length = resolve_max_length(config, token_lengths(tokenizer, [*job.train, *job.valid]))
    args = sft_arguments(config, job.checkpoints, max_length, bf16, use_cpu, eval_on_start=resume_from is None)

    transformers.set_seed(config.seed)
    model = transformers.AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
    peft_config = config.lora.peft_config(model)
    if job.init_adapter is not None:
        model = peft.PeftModel.from_pretrained(model, job.init_adapter, is_trainable=True)
        peft_config = None
    from farore.train.prefix import frozen_prefix_cached
    from farore.train.trainer import EvaluateAtEnd, GuardedSFTTrainer, ProgressBar, StepClock, StopAtInterrupt

    interrupt, clock = StopAtInterrupt(), StepClock()
    # Per-epoch evaluations already end at the last step.
    at_end = [] if config.eval_steps == "epoch" else [EvaluateAtEnd()]
    trainer = GuardedSFTTrainer(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list([{"messages": r["messages"]} for r in job.train]),
        eval_dataset=datasets.Dataset.from_list([{"messages": r["messages"]} for r in job.valid]),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[ProgressBar(job.name), interrupt, clock, *at_end],
        first_line_weight=config.first_line_weight,
    )
    trainer.remove_callback(transformers.PrinterCallback)
    trainer.remove_callback(transformers.ProgressCallback)

    start_epoch = json.loads((resume_from / "trainer_state.json").read_text())["epoch"] if resume_from else 0.0
    started = time.perf_counter()
    frozen = config.lora.frozen_layers(model.config.num_hidden_layers) if config.frozen_prefix_cache else 0
    with interrupt.installed(), frozen_prefix_cached(trainer.model, frozen):
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    runtime = time.perf_counter() - started
    train_curve, eval_curve = _curves(trainer.state.log_history)
    outcome = StageOutcome(
        interrupted=interrupt.requested,
        max_length=max_length,
        steps=trainer.state.global_step,
        max_steps=trainer.state.max_steps,
        runtime_s=runtime,
        train_time_s=clock.seconds,
        sample_passes=((trainer.state.epoch or 0.0) - start_epoch) * len(job.train),
        hardware=current_hardware(torch, bf16),
        train_curve=train_curve,
        eval_curve=eval_curve,
        best_checkpoint=trainer.state.best_model_checkpoint,
        best_eval_loss=trainer.state.best_metric,
    )
    if not outcome.interrupted:
        tokenizer.chat_template = base_template
        trainer.save_model(str(job.adapter))
        make_portable(job.adapter, base.portable_name)
    return outcome
