"""Local transformers checkpoints and PEFT adapters, generated in left-padded batches."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

from farore.backends.base import DEFAULT_BATCH_SIZE, BackendError, Generation, GenerationError, GenerationSettings, Message

INSTALL_HF = 'pip install -e ".[hf]"'


def import_torch_stack():
    try:
        import torch
        import transformers
    except ImportError as error:
        raise BackendError(f"local models need torch and transformers ({error.name} is missing): {INSTALL_HF}") from None
    return torch, transformers


def file_digest(paths: Sequence[Path]) -> str:
    """sha256 over the named files' bytes, in the order given."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def weight_files(directory: Path) -> list[Path]:
    patterns = ("*.safetensors", "*.bin", "config.json", "adapter_config.json")
    return sorted({p for pattern in patterns for p in directory.glob(pattern)})


def is_adapter(directory: Path) -> bool:
    return (directory / "adapter_config.json").is_file()


def adapter_base(directory: Path) -> Path:
    """The base checkpoint of a PEFT adapter: its recorded path, else the embedded model."""
    from farore.backends.embedded import EMBEDDED_NAMES, embedded_checkpoint

    recorded = json.loads((directory / "adapter_config.json").read_text())["base_model_name_or_path"]
    if recorded and Path(recorded).is_dir():
        return Path(recorded)
    if recorded in EMBEDDED_NAMES or Path(recorded or "").name in EMBEDDED_NAMES:
        return embedded_checkpoint()
    raise BackendError(
        f"{directory}: the adapter's base model {recorded!r} is not a local directory; "
        "copy the base checkpoint there or edit base_model_name_or_path in adapter_config.json"
    )


class HFBackend:
    """Any local transformers checkpoint directory, or a PEFT adapter directory."""

    kind = "hf"

    def __init__(self, path: Path, batch_size: int = DEFAULT_BATCH_SIZE, model_name: str | None = None):
        self.path = Path(path)
        self.batch_size = batch_size
        self.model = model_name or f"hf:{self.path}"

    def check(self) -> None:
        if not self.path.is_dir():
            raise BackendError(f"{self.path}: no such model directory")
        if not (is_adapter(self.path) or (self.path / "config.json").is_file()):
            raise BackendError(f"{self.path}: neither a transformers checkpoint (config.json) nor a PEFT adapter (adapter_config.json)")
        if is_adapter(self.path):
            adapter_base(self.path)
        import_torch_stack()

    def identity(self) -> str:
        own = file_digest(weight_files(self.path))
        if is_adapter(self.path):
            base = file_digest(weight_files(adapter_base(self.path)))
            return hashlib.sha256(f"{own}+{base}+merged".encode()).hexdigest()
        return own

    @cached_property
    def _loaded(self):
        torch, transformers = import_torch_stack()
        base_dir = adapter_base(self.path) if is_adapter(self.path) else self.path
        tokenizer = transformers.AutoTokenizer.from_pretrained(base_dir)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = transformers.AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
        if is_adapter(self.path):
            from peft import PeftModel

            # Merged into the base weights: the same function, without the adapter's extra
            # matrix products at every layer of every decoding step (~25% of the time on a CPU).
            model = PeftModel.from_pretrained(model, self.path).merge_and_unload()
        model.eval()
        return torch, tokenizer, model

    def generate(self, conversations: Sequence[list[Message]], settings: GenerationSettings) -> list[Generation]:
        torch, tokenizer, model = self._loaded
        texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
        encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        sampling = {} if settings.greedy else {"temperature": settings.temperature, "top_p": settings.top_p}
        if not settings.greedy:
            torch.manual_seed(settings.seed)
        started = time.perf_counter()
        try:
            with torch.inference_mode():
                output = model.generate(
                    **encoded,
                    max_new_tokens=settings.max_new_tokens,
                    do_sample=not settings.greedy,
                    pad_token_id=tokenizer.pad_token_id,
                    **sampling,
                )
        except RuntimeError as error:
            raise GenerationError(f"{self.model}: generation failed: {error}") from error
        elapsed = time.perf_counter() - started
        prompt_length = encoded["input_ids"].shape[1]
        results = []
        for row, mask in zip(output, encoded["attention_mask"]):
            completion = row[prompt_length:]
            stops = (completion == tokenizer.eos_token_id).nonzero()
            if len(stops):
                completion = completion[: stops[0].item()]
            results.append(
                Generation(
                    text=tokenizer.decode(completion, skip_special_tokens=True).strip(),
                    latency_s=elapsed / len(conversations),
                    prompt_tokens=int(mask.sum()),
                    completion_tokens=len(completion),
                )
            )
        return results
