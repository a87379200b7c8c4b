"""Training runs end to end on a tiny random model (same tokenizer and architecture as the embedded one).

The tiny model makes each run take seconds, so that the run directory, the manifest, two stages,
the NaN stop, Ctrl-C and --resume are all exercised for real; the embedded model itself is trained
in tests/test_train_embedded.py.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

# Imported before any in-process pytester run (torch cannot be imported twice in one process).
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("trl")

from farore.backends import GenerationSettings, resolve_backend  # noqa: E402
from farore.cli import main  # noqa: E402
from farore.train.manifest import load_manifest  # noqa: E402
from farore.train.names import RunName  # noqa: E402

DATA = Path(__file__).parent / "data"
TRAIN, VALID = DATA / "train_tiny.jsonl", DATA / "valid_tiny.jsonl"
FAST = ["--batch-size", "2", "--gradient-accumulation-steps", "1", "--eval-steps", "1", "--save-steps", "1",
        "--logging-steps", "1", "--max-length", "data", "--lora-target-modules", "all-linear"]


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    from farore.backends.embedded import embedded_checkpoint

    source = embedded_checkpoint()
    config = transformers.AutoConfig.from_pretrained(source)
    config.update(dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8))
    torch.manual_seed(0)
    target = tmp_path_factory.mktemp("tiny-base")
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(target)
    transformers.AutoTokenizer.from_pretrained(source).save_pretrained(target)
    return target


def train(tmp_path: Path, base: Path, *extra: str) -> tuple[int, Path]:
    runs = tmp_path / "runs"
    status = main(["train", "--data", str(TRAIN), "--valid", str(VALID), "--base", str(base), "--runs-dir", str(runs), *FAST, *extra])
    found = sorted(runs.iterdir()) if runs.exists() else []
    return status, found[0] if found else runs


def test_a_run_writes_adapter_manifest_and_name(tmp_path, tiny_base, capsys):
    status, run_dir = train(tmp_path, tiny_base, "--epochs", "1", "--tag", "trial")
    assert status == 0
    manifest = load_manifest(run_dir)
    name = RunName.parse(manifest.name)
    assert (name.samples, name.tag) == (4, "trial") and run_dir.name == name.slug
    assert manifest.status == "completed" and manifest.samples == 4 and manifest.valid_source == "file"
    assert manifest.base_model.path == str(tiny_base) and len(manifest.base_model.sha256) == 64
    assert all(verdict.startswith("PASS") for verdict in manifest.data_gates.values())
    (stage,) = manifest.stages
    assert stage.status == "completed" and stage.steps == stage.max_steps == 2
    assert stage.train.by_category == {"mode_mismatch": 1, "stack_corruption": 1, "register_clobbering": 1, "dma_errors": 1}
    assert stage.train.sources == [str(TRAIN)] and stage.valid.sources == [str(VALID)]
    assert [p.step for p in stage.train_loss] == [1, 2] and [p.step for p in stage.eval_loss] == [0, 1, 2]
    assert stage.best_eval_loss == min(p.loss for p in stage.eval_loss[1:])
    assert stage.wall_time_s >= stage.train_time_s > 0 and stage.sample_passes == 4
    assert stage.hardware.device and stage.hardware.threads >= 1 and stage.hardware.bf16 is False
    assert (run_dir / "config.yaml").read_text().startswith("lora:")
    adapter = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(tiny_base)
    assert adapter["target_modules"] and adapter["r"] == 16
    output = capsys.readouterr().out
    assert f"{manifest.name}  ({run_dir})" in output and "s per sample-pass" in output and "threads, fp32" in output

    backend = resolve_backend(str(run_dir / "adapter"))
    backend.check()
    (generation,) = backend.generate([[{"role": "user", "content": "Find the bug: PHA / RTS"}]], GenerationSettings(max_new_tokens=4))
    assert generation.completion_tokens and generation.completion_tokens <= 4


def test_two_stages_train_diagnosis_then_full_answers_from_it(tmp_path, tiny_base):
    status, run_dir = train(tmp_path, tiny_base, "--epochs", "1", "--two-stage", "--padding-free", "true")
    assert status == 0
    manifest = load_manifest(run_dir)
    diagnosis, full = manifest.stages
    assert (diagnosis.name, full.name) == ("diagnosis", "full")
    assert diagnosis.status == full.status == "completed"
    assert full.init_adapter == diagnosis.adapter == "diagnosis/adapter" and full.adapter == "adapter"
    assert diagnosis.train.sha256 != full.train.sha256
    stage1 = (run_dir / diagnosis.train.file).read_text()
    assert "**What's happening:**" in stage1 and "**Fix:**" not in stage1
    assert "**Fix:**" in (run_dir / full.train.file).read_text()
    assert (run_dir / "diagnosis" / "adapter" / "adapter_model.safetensors").is_file()
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert diagnosis.eval_loss and full.eval_loss


def test_a_nan_loss_stops_the_run_with_a_clear_message(tmp_path, tiny_base, capsys):
    status, run_dir = train(tmp_path, tiny_base, "--epochs", "3", "--learning-rate", "1e30")
    assert status == 1
    error = capsys.readouterr().err
    assert re.search(r"the training loss became (nan|inf) at step \d+ .* Lower the learning rate \(now 1e\+30\)", error)
    manifest = load_manifest(run_dir)
    assert manifest.status == "failed" and manifest.stages[0].status == "failed"
    assert "Lower the learning rate" in manifest.error
    assert not (run_dir / "adapter").exists()


def test_an_existing_run_is_never_overwritten(tmp_path, tiny_base, capsys):
    name = RunName.today(4)
    (tmp_path / "runs" / name.slug).mkdir(parents=True)
    status, _ = train(tmp_path, tiny_base)
    assert status == 1
    assert "exists already" in capsys.readouterr().err


def test_resume_takes_no_other_training_options(tmp_path):
    assert main(["train", "--resume", str(tmp_path), "--epochs", "2"]) == 2


def _wait_for(stream, pattern: re.Pattern, seen: list[str], found: threading.Event) -> None:
    buffer = ""
    for chunk in iter(lambda: stream.read(1), ""):
        buffer += chunk
        if not found.is_set() and pattern.search(buffer):
            found.set()
    seen.append(buffer)


def test_ctrl_c_leaves_a_checkpoint_that_resume_finishes(tmp_path, tiny_base):
    runs = tmp_path / "runs"
    command = [sys.executable, "-m", "farore.cli", "train", "--data", str(TRAIN), "--valid", str(VALID),
               "--base", str(tiny_base), "--runs-dir", str(runs), *FAST, "--epochs", "5", "--eval-steps", "5", "--save-steps", "5", "--threads", "1"]
    child = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen: list[str] = []
    stepped = threading.Event()
    reader = threading.Thread(target=_wait_for, args=(child.stderr, re.compile(r"full: .*\| *[2-9]/10"), seen, stepped))
    reader.start()
    assert stepped.wait(timeout=120), "training never reached step 2"
    child.send_signal(signal.SIGINT)
    assert child.wait(timeout=120) == 130
    reader.join()
    assert "stopping after this step and saving a checkpoint" in seen[0]
    (run_dir,) = runs.iterdir()
    manifest = load_manifest(run_dir)
    assert manifest.status == "interrupted" and manifest.stages[0].status == "interrupted"
    stopped_at = manifest.stages[0].steps
    assert 2 <= stopped_at < 10
    assert (run_dir / "checkpoints" / "full" / f"checkpoint-{stopped_at}").is_dir()
    assert not (run_dir / "adapter").exists()

    assert main(["train", "--resume", str(run_dir)]) == 0
    manifest = load_manifest(run_dir)
    (stage,) = manifest.stages
    assert manifest.status == "completed" and stage.steps == stage.max_steps == 10
    assert stage.sample_passes == pytest.approx(5 * 4)  # resumed where it stopped, not restarted
    assert [p.step for p in stage.train_loss] == list(range(1, 11))
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()


def test_padding_free_batches_do_not_attend_across_dialogues(tiny_base):
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32).eval()
    first, second = list(range(100, 117)), list(range(300, 311))
    examples = [{"input_ids": ids} for ids in (first, second)]
    packed = DataCollatorForLanguageModeling(pad_token_id=2, padding_free=True)(examples)
    assert "attention_mask" not in packed and packed["input_ids"].shape == (1, len(first) + len(second))
    with torch.no_grad():
        together = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False).logits[0]
        alone = [model(input_ids=torch.tensor([ids]), use_cache=False).logits[0] for ids in (first, second)]
    torch.testing.assert_close(together, torch.cat(alone), rtol=1e-4, atol=1e-4)


EVAL_CASES = """\
category: stack_corruption
concepts: [stack, PHA/PLA, balance]
cases:
  - id: eval-stack-a
    prompt: "Why does this crash on return?\\n```asm\\nPHX\\nJSR Draw\\nRTS\\n```"
  - id: eval-stack-b
    prompt: "The game hangs after IRQ:\\n```asm\\nIrq:\\n  PHB\\n  RTI\\n```"
"""


def test_eval_benchmarks_the_adapter_beside_its_base(tmp_path, tiny_base, capsys):
    cases = tmp_path / "cases.yaml"
    cases.write_text(EVAL_CASES)
    status, run_dir = train(tmp_path, tiny_base, "--epochs", "1", "--eval", "--cases", str(cases),
                            "--eval-max-new-tokens", "4", "--prompt-strategy", "baseline")
    assert status == 0
    manifest = load_manifest(run_dir)
    assert manifest.eval.prompt_strategy == "baseline"
    assert [c.category for c in manifest.eval.categories] == ["stack_corruption"]
    for report in (manifest.eval.adapter_report, manifest.eval.base_report):
        data = json.loads((run_dir / report).read_text())
        assert data["run"]["prompt_strategy"] == "baseline" and len(data["cases"]) == 2
    adapter_report = json.loads((run_dir / manifest.eval.adapter_report).read_text())
    assert adapter_report["run"]["model"] == str(run_dir / "adapter")
    assert manifest.eval.adapter_overall == adapter_report["summary"]["overall"]
    output = capsys.readouterr().out
    assert "benchmark (baseline): category" in output and "stack_corruption" in output
    assert "minimum gate: base fails, adapter fails" in output



def test_eval_of_a_two_stage_run_scores_stage_one_too(tmp_path, tiny_base, capsys):
    cases = tmp_path / "cases.yaml"
    cases.write_text(EVAL_CASES)
    status, run_dir = train(tmp_path, tiny_base, "--epochs", "1", "--two-stage", "--eval", "--cases", str(cases),
                            "--eval-max-new-tokens", "4")
    assert status == 0
    (stage_one,) = load_manifest(run_dir).eval.earlier_stages
    assert stage_one.stage == "diagnosis" and stage_one.report == "eval/diagnosis/report.json"
    report = json.loads((run_dir / stage_one.report).read_text())
    assert report["run"]["model"] == str(run_dir / "diagnosis" / "adapter")
    assert stage_one.overall == report["summary"]["overall"]
    (category,) = load_manifest(run_dir).eval.categories
    assert category.earlier_stages == {"diagnosis": report["summary"]["categories"][0]["score"]}
    output = capsys.readouterr().out
    assert re.search(r"category +base  diagnosis  adapter  change", output)
    assert "minimum gate: base fails, diagnosis fails, adapter fails" in output

def tiny_llama():
    """A seeded two-layer Llama with a 64-token vocabulary, for checking loss arithmetic."""
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1
    )
    return transformers.LlamaForCausalLM(config).eval()


@pytest.mark.parametrize("num_items_in_batch", [None, 7])
def test_the_trained_token_loss_equals_the_model_loss_over_the_assistant_labels(num_items_in_batch):
    from farore.train.trainer import trained_token_loss

    model = tiny_llama()
    input_ids = torch.randint(0, 64, (2, 12))
    labels = input_ids.clone()
    labels[0, :7], labels[1, :9] = -100, -100  # the question; the answer is trained
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "labels": labels}

    loss, _ = trained_token_loss(model, inputs, num_items_in_batch)
    expected = model(**inputs, num_items_in_batch=num_items_in_batch).loss

    torch.testing.assert_close(loss, expected)


def test_the_first_line_of_each_answer_is_marked_up_to_its_line_end():
    from farore.train.trainer import first_line_mask

    q, newline = -100, 9
    labels = torch.tensor([[q, q, 5, 6, newline, 7, 8, q, q, 4, newline, 3]])
    mask = first_line_mask(labels, torch.tensor([newline]))
    assert mask.int().tolist() == [[0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0]]


def test_weighting_the_first_line_weighs_its_tokens_losses():
    from farore.train.trainer import trained_token_loss

    model = tiny_llama()
    input_ids = torch.randint(0, 64, (1, 12))
    labels = input_ids.clone()
    labels[0, :6] = -100
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "labels": labels}
    weights = torch.ones(1, 11)
    weights[0, 5:7] = 4.0  # the first two answer tokens

    loss, outputs = trained_token_loss(model, inputs, weights=weights)
    logits = model(input_ids=input_ids).logits[0, 5:11]
    per_token = torch.nn.functional.cross_entropy(logits, input_ids[0, 6:12], reduction="none")
    expected = (per_token * torch.tensor([4.0, 4.0, 1, 1, 1, 1])).sum() / 6
    torch.testing.assert_close(loss, expected)


def test_a_first_line_weight_is_recorded_and_weighs_the_loss(tmp_path, tiny_base):
    plain_status, plain = train(tmp_path / "plain", tiny_base, "--epochs", "1")
    status, weighted = train(tmp_path / "weighted", tiny_base, "--epochs", "1", "--first-line-weight", "4")
    assert plain_status == status == 0
    plain_manifest, weighted_manifest = load_manifest(plain), load_manifest(weighted)
    assert weighted_manifest.config["first_line_weight"] == 4.0
    # Before the first step both evaluate the same model: the weighted loss counts the first lines 4 times.
    assert weighted_manifest.stages[0].eval_loss[0].loss > plain_manifest.stages[0].eval_loss[0].loss


def test_the_last_step_is_evaluated_even_off_the_evaluation_interval(tmp_path, tiny_base):
    status, run_dir = train(tmp_path, tiny_base, "--epochs", "3", "--eval-steps", "4", "--save-steps", "4")
    assert status == 0
    (stage,) = load_manifest(run_dir).stages
    assert stage.steps == 6
    assert [p.step for p in stage.eval_loss] == [0, 4, 6]
    assert stage.best_eval_loss == min(p.loss for p in stage.eval_loss[1:])
