"""Prompt strategies: named system prompts, shipped as YAML fixtures under fixtures/prompts/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from farore.resources import fixtures_dir

Message = dict[str, str]


@dataclass(frozen=True)
class PromptStrategy:
    name: str
    description: str
    system: str | None

    def messages(self, prompt: str) -> list[Message]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, {"role": "user", "content": prompt}]


class _StrategySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    system: str | None


class UnknownStrategyError(LookupError):
    pass


def prompts_dir() -> Path:
    return fixtures_dir() / "prompts"


def load_strategy_file(path: Path) -> PromptStrategy:
    try:
        spec = _StrategySpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as error:
        raise ValueError(f"{path}: not a prompt strategy: {error}") from None
    return PromptStrategy(spec.name, spec.description, spec.system)


def available_strategies(directory: Path | None = None) -> dict[str, PromptStrategy]:
    directory = directory or prompts_dir()
    strategies = (load_strategy_file(p) for p in sorted(directory.glob("*.yaml")))
    return {s.name: s for s in strategies}


def load_strategy(name_or_path: str) -> PromptStrategy:
    """A shipped strategy by name, or any strategy YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} and path.is_file():
        return load_strategy_file(path)
    strategies = available_strategies()
    if name_or_path not in strategies:
        known = ", ".join(sorted(strategies))
        raise UnknownStrategyError(f"unknown prompt strategy {name_or_path!r}; known: {known}")
    return strategies[name_or_path]
