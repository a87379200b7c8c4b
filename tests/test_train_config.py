"""The training config: the seed's values by default, presets, overrides, clear errors."""

from pathlib import Path

import pytest

from farore.train.config import (
    ConfigError,
    TrainConfig,
    available_presets,
    config_yaml,
    load_config_file,
    load_preset,
    with_overrides,
)

# The seed's LoraConfig and TrainingArguments, as written in farore-improvement-strategy.md.
SEED_LORA = dict(r=16, lora_alpha=32, target_modules={"q_proj", "k_proj", "v_proj", "o_proj"}, lora_dropout=0.05, bias="none", task_type="CAUSAL_LM")
SEED_ARGUMENTS = dict(
    per_device_train_batch_size=1,
    gradient_accumulation_steps=16,
    learning_rate=3e-4,
    num_train_epochs=3,
    max_length=1024,
    logging_steps=10,
    eval_strategy="steps",
    eval_steps=50,
    save_steps=50,
    load_best_model_at_end=True,
)


def test_defaults_are_the_seed_lora_config():
    peft_config = TrainConfig().lora.peft_config()
    for name, value in SEED_LORA.items():
        assert getattr(peft_config, name) == value, name


def test_lora_on_the_last_layers_names_every_linear_module_of_those_layers():
    from transformers import LlamaConfig, LlamaForCausalLM

    tiny = LlamaForCausalLM(LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=5, num_attention_heads=2, vocab_size=64))
    settings = with_overrides(TrainConfig(), {"lora.target_modules": "all-linear", "lora.layers": "2"}).lora
    peft_config = settings.peft_config(tiny)
    assert peft_config.layers_to_transform == [3, 4]
    assert set(peft_config.target_modules) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    seed_modules = TrainConfig(lora={"layers": 9}).lora.peft_config(tiny)
    assert (set(seed_modules.target_modules), seed_modules.layers_to_transform) == (SEED_LORA["target_modules"], [0, 1, 2, 3, 4])


def test_defaults_are_the_seed_training_arguments(tmp_path):
    from farore.train.sft import sft_arguments

    arguments = sft_arguments(TrainConfig(), tmp_path, max_length=1024, bf16=False, use_cpu=True, eval_on_start=True)
    for name, value in SEED_ARGUMENTS.items():
        assert getattr(arguments, name) == value, name
    # What TrainingArguments leaves unsaid stays as the seed had it, not as trl's SFTConfig changes it.
    assert arguments.activation_checkpointing is False
    assert arguments.bf16 is False


def test_the_seed_preset_is_the_default_config():
    assert load_preset("seed") == TrainConfig()


def test_every_shipped_preset_loads():
    presets = available_presets()
    assert {"seed", "small-cpu"} <= set(presets)
    for name in presets:
        assert isinstance(load_preset(name), TrainConfig)


def test_small_cpu_preset_takes_its_length_from_the_data():
    config = load_preset("small-cpu")
    assert config.max_length == "data"
    assert config.lora.target_modules == "all-linear"


def test_overrides_are_read_as_yaml_scalars_and_revalidated():
    config = with_overrides(TrainConfig(), {"learning_rate": "1e-3", "lora.r": "8", "lora.target_modules": "q_proj,v_proj", "max_length": "data"})
    assert config.learning_rate == 1e-3
    assert config.lora.r == 8
    assert config.lora.target_modules == ["q_proj", "v_proj"]
    assert config.max_length == "data"


def test_a_bad_override_names_the_field():
    with pytest.raises(ConfigError, match=r"command line: lora\.r: .*greater than or equal to 1"):
        with_overrides(TrainConfig(), {"lora.r": "0"})


def test_a_bad_config_file_names_file_line_and_field(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("epochs: 2\nlora:\n  r: 16\n  dropout: 1.5\n")
    with pytest.raises(ConfigError, match=rf"{path}:4: lora\.dropout: "):
        load_config_file(path)


def test_an_unknown_field_is_refused(tmp_path: Path):
    path = tmp_path / "typo.yaml"
    path.write_text("learning_rte: 0.001\n")
    with pytest.raises(ConfigError, match=rf"{path}:1: learning_rte: Extra inputs are not permitted"):
        load_config_file(path)


def test_checkpoints_must_fall_on_evaluations_to_keep_the_best():
    with pytest.raises(ConfigError, match="save_steps .* multiple of eval_steps"):
        with_overrides(TrainConfig(), {"save_steps": "30", "eval_steps": "20"})


def test_epoch_schedules_become_the_trainers_epoch_strategies():
    arguments = with_overrides(TrainConfig(), {"eval_steps": "epoch", "save_steps": "epoch"}).seed_arguments(512)
    assert (arguments["eval_strategy"], arguments["save_strategy"]) == ("epoch", "epoch")
    assert "eval_steps" not in arguments and "save_steps" not in arguments
    with pytest.raises(ConfigError, match="save_steps .* or both 'epoch'"):
        with_overrides(TrainConfig(), {"save_steps": "epoch", "eval_steps": "20"})


def test_the_written_config_reads_back_identically(tmp_path: Path):
    config = with_overrides(load_preset("small-cpu"), {"seed": "7"})
    path = tmp_path / "config.yaml"
    path.write_text(config_yaml(config))
    assert load_config_file(path) == config
