"""The training configuration: a pydantic model whose defaults are the seed's, and named presets.

The seed's recommended configuration (farore-improvement-strategy.md, "Training Configuration")::

    LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
               lora_dropout=0.05, bias="none", task_type="CAUSAL_LM")
    TrainingArguments(per_device_train_batch_size=1, gradient_accumulation_steps=16,
                      learning_rate=3e-4, num_train_epochs=3, max_seq_length=1024, logging_steps=10,
                      eval_strategy="steps", eval_steps=50, save_steps=50, load_best_model_at_end=True)

``TrainConfig()`` is exactly that (the TrainingArguments defaults it leaves unsaid, such as no
gradient checkpointing and fp32, included). Presets are YAML files under ``fixtures/train/``
(``seed``, ``small-cpu``, ...); any field can be overridden on the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from farore.resources import fixtures_dir

SEED_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")


class ConfigError(ValueError):
    """A training configuration that cannot be used, naming the file, line and field."""


class LoraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    r: int = Field(16, ge=1, description="LoRA rank")
    alpha: int = Field(32, ge=1, description="LoRA alpha (the update is scaled by alpha / r)")
    target_modules: list[str] | Literal["all-linear"] = Field(
        default_factory=lambda: list(SEED_TARGET_MODULES),
        description="module names to adapt (comma-separated), or all-linear",
    )
    layers: int | None = Field(
        None, ge=1, description="adapt only the last N decoder layers (the layers below then need no backward pass; default: all)"
    )
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="LoRA dropout")
    bias: Literal["none", "all", "lora_only"] = Field("none", description="which biases train")
    task_type: Literal["CAUSAL_LM"] = "CAUSAL_LM"

    @field_validator("target_modules", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str) and value != "all-linear":
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def frozen_layers(self, count: int) -> int:
        """How many of ``count`` decoder layers, from the first, get no adapter."""
        return max(0, count - self.layers) if self.layers is not None else 0

    def peft_config(self, model=None):
        """The peft LoraConfig; ``model`` (its layer count and linear modules) is needed with ``layers``."""
        from peft import LoraConfig

        target_modules, layers_to_transform = self.target_modules, None
        if self.layers is not None:
            count = model.config.num_hidden_layers
            layers_to_transform = list(range(self.frozen_layers(count), count))
            if target_modules == "all-linear":  # peft takes a layer range only with named modules
                target_modules = decoder_linear_names(model)
        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            target_modules=target_modules,
            layers_to_transform=layers_to_transform,
            lora_dropout=self.dropout,
            bias=self.bias,
            task_type=self.task_type,
        )


def decoder_linear_names(model) -> list[str]:
    """What "all-linear" means for ``model``: the names of the linear modules inside its decoder layers."""
    from torch import nn

    from farore.train.prefix import decoder_layers

    return sorted(
        {name.rsplit(".", 1)[-1] for name, module in decoder_layers(model).named_modules() if isinstance(module, nn.Linear)}
    )


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lora: LoraSettings = Field(default_factory=LoraSettings)
    batch_size: int = Field(1, ge=1, description="dialogues per forward pass")
    gradient_accumulation_steps: int = Field(16, ge=1, description="forward passes per optimizer step")
    learning_rate: float = Field(3e-4, gt=0.0, description="peak learning rate (AdamW)")
    epochs: float = Field(3.0, gt=0.0, description="passes over the training set")
    max_length: int | Literal["data"] = Field(
        1024, description="token limit per dialogue, or 'data': the longest dialogue, so that nothing is cut"
    )
    logging_steps: int = Field(10, ge=1, description="optimizer steps between training-loss points")
    eval_steps: Annotated[int, Field(ge=1)] | Literal["epoch"] = Field(
        50, description="optimizer steps between validation-loss evaluations, or 'epoch': at the end of each epoch"
    )
    save_steps: Annotated[int, Field(ge=1)] | Literal["epoch"] = Field(
        50, description="optimizer steps between checkpoints (a multiple of eval_steps), or 'epoch'"
    )
    load_best_model_at_end: bool = Field(True, description="keep the checkpoint with the lowest validation loss")
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = Field(
        "linear", description="learning-rate schedule"
    )
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0, description="share of the steps spent warming up")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay")
    seed: int = Field(42, description="seed of the LoRA initialisation, data order and dropout")
    valid_fraction: float = Field(
        0.1, gt=0.0, lt=0.5, description="share held out for validation when no --valid file is given"
    )
    train_samples: int | None = Field(
        None, ge=1, description="train on a seeded sample of this many training dialogues, each category in proportion (default: all)",
    )
    first_line_weight: float = Field(
        1.0, ge=1.0, description="loss weight of each answer's first line (the bug type); 1 is plain SFT"
    )
    assistant_only_loss: bool = Field(True, description="train on the assistant turns only, not on the questions")
    padding_free: bool = Field(
        False, description="concatenate each batch into one sequence (no padding, no attention across dialogues)"
    )
    gradient_checkpointing: bool = Field(False, description="recompute activations: less memory, more time")
    frozen_prefix_cache: bool = Field(
        True, description="with lora.layers: compute the frozen layers below once per dialogue, not once per epoch"
    )
    bf16: bool | Literal["auto"] = Field(False, description="bf16 mixed precision: true, false, or auto (where supported)")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's choice)")
    system_prompt: str | None = Field(
        None, description="prompt strategy whose system prompt is given to dialogues that have none (default: none)"
    )

    @model_validator(mode="after")
    def _checkpoints_follow_evaluations(self) -> TrainConfig:
        if self.load_best_model_at_end and not _saves_follow_evaluations(self.save_steps, self.eval_steps):
            raise ValueError(
                f"save_steps ({self.save_steps}) must be a multiple of eval_steps ({self.eval_steps}), "
                "or both 'epoch', so that the best checkpoint can be kept"
            )
        return self

    def seed_arguments(self, max_length: int) -> dict[str, Any]:
        """The fields the seed's TrainingArguments sets, under their (trl SFTConfig) names."""
        return dict(
            per_device_train_batch_size=self.batch_size,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            learning_rate=self.learning_rate,
            num_train_epochs=self.epochs,
            max_length=max_length,
            logging_steps=self.logging_steps,
            **_schedule("eval", self.eval_steps),
            **_schedule("save", self.save_steps),
            load_best_model_at_end=self.load_best_model_at_end,
        )


def _saves_follow_evaluations(save: int | str, evaluate: int | str) -> bool:
    if "epoch" in (save, evaluate):
        return save == evaluate
    return save % evaluate == 0


def _schedule(event: str, every: int | Literal["epoch"]) -> dict[str, Any]:
    """TrainingArguments' strategy and interval for ``event`` ("eval" or "save")."""
    if every == "epoch":
        return {f"{event}_strategy": "epoch"}
    return {f"{event}_strategy": "steps", f"{event}_steps": every}


def presets_dir() -> Path:
    return fixtures_dir() / "train"


def available_presets() -> dict[str, Path]:
    return {path.stem: path for path in sorted(presets_dir().glob("*.yaml"))}


def _line_of(text: str, location: tuple) -> int | None:
    """The line of a (possibly nested) key in a YAML mapping, for error messages."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in location:
        if not isinstance(node, yaml.MappingNode):
            break
        match = next(((k, v) for k, v in node.value if k.value == key), None)
        if match is None:
            break
        line = match[0].start_mark.line + 1
        node = match[1]
    return line


def _validation_message(error: ValidationError, where: str, text: str | None = None) -> str:
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "config"
        line = _line_of(text, item["loc"]) if text is not None else None
        place = f"{where}:{line}" if line else where
        problems.append(f"{place}: {field}: {item['msg'].removeprefix('Value error, ')}")
    return "\n".join(problems)


def load_config_file(path: Path) -> TrainConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the training config: {error.strerror}") from None
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    try:
        return TrainConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError(_validation_message(error, str(path), text)) from None


def load_preset(name: str) -> TrainConfig:
    presets = available_presets()
    if name not in presets:
        raise ConfigError(f"unknown training preset {name!r}; known: {', '.join(presets)}")
    return load_config_file(presets[name])


def override_fields() -> dict[str, Any]:
    """Every overridable field by dotted name (``learning_rate``, ``lora.r``), with its pydantic FieldInfo."""
    fields: dict[str, Any] = {}
    for name, info in TrainConfig.model_fields.items():
        if name == "lora":
            fields.update({f"lora.{sub}": sub_info for sub, sub_info in LoraSettings.model_fields.items()})
        else:
            fields[name] = info
    return fields


def with_overrides(config: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """``config`` with dotted fields replaced (values as YAML scalars, e.g. from the command line), revalidated."""
    document = config.model_dump()
    for dotted, value in overrides.items():
        target = document
        *parents, leaf = dotted.split(".")
        for parent in parents:
            target = target[parent]
        target[leaf] = yaml.safe_load(value) if isinstance(value, str) else value
    try:
        return TrainConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError(_validation_message(error, "command line")) from None


def config_yaml(config: TrainConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
