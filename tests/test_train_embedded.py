"""The embedded model trained for a few steps on a tiny slice, loaded back by the harness, exported."""

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("trl")
pytestmark = pytest.mark.model

from farore.backends import GenerationSettings, resolve_backend  # noqa: E402
from farore.cli import main  # noqa: E402
from farore.prompts import load_strategy  # noqa: E402
from farore.train.export import parse_modelfile  # noqa: E402
from farore.train.manifest import load_manifest  # noqa: E402
from farore.train.names import RunName  # noqa: E402

DATA = Path(__file__).parent / "data"
PROMPT = [{"role": "user", "content": "Find the bug:\n```asm\nREP #$20\nSTA $2100\n```"}]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    status = main([
        "train", "--data", str(DATA / "train_tiny.jsonl"), "--valid", str(DATA / "valid_tiny.jsonl"),
        "--runs-dir", str(runs), "--tag", "tiny-slice", "--max-length", "256", "--epochs", "1",
        "--batch-size", "4", "--gradient-accumulation-steps", "1", "--eval-steps", "1", "--save-steps", "1",
    ])
    assert status == 0
    (found,) = runs.iterdir()
    return found


def test_a_few_steps_write_adapter_manifest_and_name(run_dir):
    manifest = load_manifest(run_dir)
    assert RunName.parse(manifest.name).samples == 4 and manifest.status == "completed"
    assert manifest.base_model.spec == "embedded" and manifest.base_model.name == "SmolLM2-135M-Instruct"
    assert manifest.base_model.gguf_sha256 and len(manifest.base_model.sha256) == 64
    (stage,) = manifest.stages
    assert stage.steps == 1 and stage.max_length == 256 and len(stage.eval_loss) == 2
    adapter = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_the_adapter_loads_in_the_harness_and_generates(run_dir):
    backend = resolve_backend(str(run_dir / "adapter"))
    backend.check()
    (generation,) = backend.generate([PROMPT], GenerationSettings(max_new_tokens=8))
    assert generation.text and 0 < generation.completion_tokens <= 8


def test_export_writes_a_merged_model_that_generates_and_a_modelfile_that_parses(run_dir, capsys):
    assert main(["export", str(run_dir), "--prompt-strategy", "baseline"]) == 0
    name = load_manifest(run_dir).name
    modelfile = run_dir / "export" / "Modelfile"
    assert f"ollama create {name} -f {modelfile.resolve()}" in capsys.readouterr().out
    directives = {d.name: d.value for d in parse_modelfile(modelfile.read_text())}
    assert directives["FROM"] == "./merged"
    assert directives["SYSTEM"] == load_strategy("baseline").system
    assert "<|im_start|>" in directives["TEMPLATE"]

    merged = resolve_backend(str(run_dir / "export" / "merged"))
    adapter = resolve_backend(str(run_dir / "adapter"))
    settings = GenerationSettings(max_new_tokens=8)
    (from_merged,) = merged.generate([PROMPT], settings)
    (from_adapter,) = adapter.generate([PROMPT], settings)
    assert from_merged.text and from_merged.text == from_adapter.text
