"""Export a run to Ollama: the adapter merged into its base weights, and a Modelfile.

``RUN_DIR/export/`` receives ``merged/`` (a plain transformers checkpoint: safetensors, config,
tokenizer) and ``Modelfile``: ``FROM ./merged``, the chosen strategy's system prompt as SYSTEM, a
ChatML TEMPLATE (the base model's own template must be ChatML, which is checked), and PARAMETERs
matching the harness's defaults (greedy, 256 new tokens, stop at the end of the turn). The written
Modelfile is parsed back before the ``ollama create`` command is printed.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from farore.backends.hf import adapter_base, import_torch_stack
from farore.prompts import load_strategy
from farore.report import atomic_write_text
from farore.train.chatml import OLLAMA_STOPS, OLLAMA_TEMPLATE, default_system_prompt, is_chatml
from farore.train.manifest import load_manifest
from farore.train.sft import import_training_stack

DIRECTIVES = frozenset({"FROM", "ADAPTER", "TEMPLATE", "SYSTEM", "PARAMETER", "MESSAGE", "LICENSE", "REQUIRES"})
PARAMETERS = frozenset(
    {
        "num_ctx", "num_predict", "num_keep", "num_batch", "num_gpu", "num_thread", "repeat_last_n",
        "repeat_penalty", "presence_penalty", "frequency_penalty", "temperature", "seed", "stop",
        "top_k", "top_p", "min_p", "typical_p", "mirostat", "mirostat_eta", "mirostat_tau",
    }
)
#: The harness's generation defaults (farore.backends.base.GenerationSettings) as Ollama PARAMETERs.
DEFAULT_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("temperature", "0"),
    ("top_p", "1"),
    ("num_predict", "256"),
    ("num_ctx", "2048"),
    *(("stop", f'"{stop}"') for stop in OLLAMA_STOPS),
)


class ExportError(ValueError):
    pass


@dataclass(frozen=True)
class Directive:
    line: int
    name: str
    value: str


def _quoted(raw: str, lines: list[str], index: int, path: str) -> tuple[str, int]:
    """A directive's value: triple-quoted (possibly over several lines), quoted, or bare."""
    if raw.startswith('"""'):
        body = raw[3:]
        collected = []
        while '"""' not in body:
            collected.append(body)
            index += 1
            if index >= len(lines):
                raise ExportError(f'{path}: unterminated """ value')
            body = lines[index]
        collected.append(body[: body.index('"""')])
        return "\n".join(collected), index
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1], index
    return raw, index


def parse_modelfile(text: str, path: str = "Modelfile") -> list[Directive]:
    """Ollama Modelfile directives in order; raises ExportError naming the line of the first problem."""
    lines = text.splitlines()
    directives: list[Directive] = []
    index = 0
    while index < len(lines):
        stripped = lines[index].strip()
        number = index + 1
        if stripped and not stripped.startswith("#"):
            name, _, rest = stripped.partition(" ")
            name = name.upper()
            if name not in DIRECTIVES:
                raise ExportError(f"{path}:{number}: unknown directive {name!r}")
            value, index = _quoted(rest.strip(), lines, index, f"{path}:{number}")
            if name == "PARAMETER":
                parameter, _, argument = value.partition(" ")
                if parameter not in PARAMETERS or not argument.strip():
                    raise ExportError(f"{path}:{number}: PARAMETER needs a known name and a value, got {value!r}")
            if not value.strip():
                raise ExportError(f"{path}:{number}: {name} has no value")
            directives.append(Directive(number, name, value))
        index += 1
    if [d.name for d in directives].count("FROM") != 1:
        raise ExportError(f"{path}: a Modelfile needs exactly one FROM")
    return directives


def modelfile_text(source: str, system: str | None, parameters=DEFAULT_PARAMETERS) -> str:
    if system is not None and '"""' in system:
        raise ExportError('the system prompt contains """, which a Modelfile cannot quote')
    lines = [f"FROM {source}", f'TEMPLATE """{OLLAMA_TEMPLATE}"""']
    if system is not None:
        lines.append(f'SYSTEM """{system}"""')
    lines += [f"PARAMETER {name} {value}" for name, value in parameters]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Export:
    name: str
    merged: Path
    modelfile: Path

    @property
    def command(self) -> str:
        return f"ollama create {self.name} -f {self.modelfile.resolve()}"


def merge_adapter(adapter_dir: Path, target: Path):
    """Write the base model with the adapter merged in to ``target`` (replaced whole, never half-written);
    returns the base model's tokenizer."""
    torch, transformers, peft, _, _ = import_training_stack()
    base_dir = adapter_base(adapter_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(base_dir)
    model = transformers.AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    merged = peft.PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        merged.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return tokenizer


def export_run(run_dir: Path, strategy: str | None = None, output: Path | None = None) -> Export:
    manifest = load_manifest(run_dir)
    if manifest.status != "completed":
        raise ExportError(f"{run_dir}: the run is {manifest.status}; only a completed run can be exported")
    import_torch_stack()
    output = output or run_dir / "export"
    strategy_name = strategy or manifest.config.get("system_prompt") or manifest.prompt_strategy
    system = load_strategy(strategy_name).system
    tokenizer = merge_adapter(run_dir / manifest.adapter, output / "merged")
    if not is_chatml(tokenizer):
        raise ExportError(f"{run_dir}: the base model's chat template is not ChatML; farore writes ChatML templates only")
    modelfile = output / "Modelfile"
    text = modelfile_text("./merged", system if system is not None else default_system_prompt(tokenizer))
    atomic_write_text(modelfile, text)
    parse_modelfile(text, str(modelfile))
    return Export(manifest.name, output / "merged", modelfile)
