"""`farore data synthesize`: the prompt, the quality gate's every check, the review and the merge.

The harness logic runs on the scripted backend; one test goes over real HTTP to the local
Ollama-API server of tests/fake_servers.py, and one (marked model) asks the embedded model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from fake_servers import DIGEST, FakeOllama

from farore.backends import GenerationSettings, resolve_backend
from farore.backends.scripted import ScriptedBackend
from farore.cases import load_cases
from farore.cli import main
from farore.dataset.schema import Dialogue, Message, dialogue_record, load_dataset
from farore.dataset.synthesize import (
    ACCEPTED_FILE,
    GATE_CHUNK,
    GENERATION_PROMPT,
    QualityGate,
    build_requests,
    generation_prompt,
    merge_reviewed,
    parse_dialogue,
    synthesize,
    write_outputs,
)
from farore.dataset.importers import shared_concepts

STACK_CODE = """Sprite_Bat_Main:
    LDA $0D00,x
    PHA
    LDA $0F20,x
    BNE .offscreen
    PLA
    STA $0D00,x
    RTS
.offscreen
    STZ $0DD0,x
    RTS"""
BENCHMARK = {
    "category": "stack_corruption",
    "concepts": ["stack", "PHA/PLA", "balance"],
    "cases": [{"id": "stack-bench-01", "prompt": f"Find the bug:\n\n```asm\n{STACK_CODE}\n```\n\nThe game crashes."}],
}
DMA_BENCHMARK = {
    "category": "dma_errors",
    "concepts": ["$4305", "$4306", "count"],
    "cases": [{"id": "dma-bench-01", "prompt": "Find the bug:\n\n```asm\n    LDA #$01\n    STA $420B\n```"}],
}

STACK_USER = """My menu cursor crashes the game when I press B. Find the bug:

```asm
Menu_Cancel:
    PHX
    LDA $F4
    AND #$40
    BEQ .done
    JSR Menu_Close
    RTS
.done
    PLX
    RTS
```"""
STACK_ANSWER = """**Bug: Stack imbalance on the cancel path**

PHX pushes the caller's X, but the path that closes the menu returns with RTS before the PLX,
so the stack is out of balance and RTS pulls the saved X as part of the return address.

**What's happening:**
1. PHX puts one byte on the stack on top of the return address.
2. When B is pressed, JSR Menu_Close runs and the next RTS pulls X's byte as PCL.
3. The PHA/PLA-style pairing is broken: one push, zero pulls on that path.

**Fix:** Pull X on every path before returning:
```asm
    JSR Menu_Close
    PLX
    RTS
```"""
DMA_USER = """My font upload leaves half of the letters as garbage. What's wrong?

```asm
Font_Upload:
    LDX #$0800
    STX $4305
    LDA #$01
    STA $420B
    RTS
```"""
DMA_ANSWER_WITHOUT_HIGH_BYTE = """**Bug: Wrong byte count for the font**

The byte count register pair is loaded with half the font size, so the transfer stops early and
the rest of VRAM keeps whatever was there; the length is counted in bytes, not words.

**What's happening:**
1. `STX $4305` sets the count to $0800 bytes.
2. The font is $1000 bytes long, so the second half never arrives.

**Fix:** Load the full byte count:
```asm
    LDX #$1000
    STX $4305
```"""


CURATED_STACK_USER = """The game freezes when a chest opens while the timer is zero. Why?

```asm
Chest_Open:
    PHP
    SEP #$20
    LDA $0FB0
    BEQ .closed
    INC $0FB2
    PLP
    RTL
.closed
    RTL
```"""
CURATED_STACK_ANSWER = """**Bug: PHP without PLP on the early return**

Only one of the two exits pulls the status byte that PHP pushed. On the `.closed` path RTL runs
with that byte still on top of the stack and takes it as the low byte of the return address.

**What's happening:**
1. JSL pushed three return bytes; PHP adds the status register on top.
2. With the timer at zero, BEQ jumps to `.closed` and skips the PLP.
3. RTL pulls P as the address's low byte: the return goes astray and one byte is left over.

**Fix:** Restore P on both paths so every exit is balanced:
```asm
.closed
    PLP
    RTL
```"""


def _layout(user: str, answer: str) -> str:
    return f"Here you go.\n### User\n{user}\n### Assistant\n{answer}\n"


@pytest.fixture
def cases_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "bench"
    directory.mkdir()
    (directory / "stack_corruption.yaml").write_text(yaml.safe_dump(BENCHMARK))
    (directory / "dma_errors.yaml").write_text(yaml.safe_dump(DMA_BENCHMARK))
    return directory


def _record(user: str, answer: str, id: str, category: str) -> dict:
    dialogue = Dialogue("x", 1, (Message("user", user), Message("assistant", answer)), id, category, "curated")
    return dialogue_record(dialogue)


@pytest.fixture
def curated(tmp_path: Path) -> Path:
    """The existing data: two curated dialogues (the few-shot pool and the dedup base)."""
    path = tmp_path / "curated.jsonl"
    records = [
        _record(CURATED_STACK_USER, CURATED_STACK_ANSWER, "stack-001", "stack_corruption"),
        _record(DMA_USER, DMA_ANSWER_WITHOUT_HIGH_BYTE.replace("STX $4305", "STX $4305 (and $4306)"), "dma-001", "dma_errors"),
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_the_prompt_is_the_seeds_with_category_concepts_layout_and_examples(cases_dir: Path, curated: Path):
    cases = load_cases(cases_dir)
    examples = load_dataset(curated).dialogues
    requests = build_requests(["stack_corruption"], 2, examples, shared_concepts(cases), shots=1, seed=3)

    assert [r.index for r in requests] == [0, 1]
    assert requests[0].examples[0].id == "stack-001"  # drawn from the category's own examples
    prompt = requests[0].prompt
    assert prompt.startswith(GENERATION_PROMPT.split("\n", 5)[0] + "\n1. User presents buggy code with symptoms\n")
    assert "Bug category: stack_corruption: pushes and pulls that do not pair up" in prompt
    assert "Use these terms where they apply: stack, PHA/PLA, balance." in prompt
    assert "**What's happening:**\n1. [Step]\n2. [Step]\n**Fix:** [Solution]" in prompt
    assert f"Example 1:\n### User\n{CURATED_STACK_USER}\n### Assistant\n{CURATED_STACK_ANSWER}\n" in prompt
    assert generation_prompt("branch_logic", [], []).count("Use these terms") == 0


def test_parse_dialogue_needs_both_sections():
    assert parse_dialogue(_layout("u", "a")) == ("u", "a")
    assert parse_dialogue("### Assistant\nonly an answer") is None
    assert parse_dialogue("### User\nq\n### Assistant\na\n### User\nanother") == ("q", "a")


def _script(tmp_path: Path, answers: dict[str, str]) -> Path:
    rules = [{"match": f"Bug category: {category}:", "text": text} for category, text in answers.items()]
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump({"default": "no idea", "rules": rules}))
    return path


def test_every_generation_goes_through_every_check_of_the_gate(tmp_path: Path, cases_dir: Path, curated: Path):
    cases = load_cases(cases_dir)
    existing = load_dataset(curated).dialogues
    contaminated = STACK_USER.split("```asm")[0] + f"```asm\n{STACK_CODE}\n```"
    script = _script(
        tmp_path,
        {
            "stack_corruption": _layout(STACK_USER, STACK_ANSWER),
            "dma_errors": _layout(DMA_USER, DMA_ANSWER_WITHOUT_HIGH_BYTE),
            "mode_mismatch": "**Bug: mode mismatch** without any layout",
            "register_clobbering": _layout(STACK_USER, STACK_ANSWER + "\nI'm not sure, though."),
            "missing_mode_switch": _layout(contaminated, STACK_ANSWER.replace("cancel path", "early exit")),
            "branch_logic": _layout(existing[0].texts("user")[0], existing[0].texts("assistant")[0]),
        },
    )
    backend = ScriptedBackend.from_file(script)
    categories = ["stack_corruption", "dma_errors", "mode_mismatch", "register_clobbering", "missing_mode_switch", "branch_logic"]
    requests = build_requests(categories, 1, existing, shared_concepts(cases), shots=1) + build_requests(["stack_corruption"], 1, existing, shared_concepts(cases), shots=1)

    result = synthesize(backend, requests, QualityGate(existing, cases), GenerationSettings(max_new_tokens=64))

    verdicts = {(o.category, n): o.reasons for n, o in enumerate(result.outcomes)}
    assert verdicts[("stack_corruption", 0)] == ()
    assert verdicts[("dma_errors", 1)] == ("concepts: missing $4306",)
    assert verdicts[("mode_mismatch", 2)][0].startswith("layout: no '### User' section")
    assert verdicts[("register_clobbering", 3)] == ("anti-keywords: not sure",)
    assert any(r.startswith("contamination: contains the code") and "stack-bench-01" in r for r in verdicts[("missing_mode_switch", 4)])
    assert verdicts[("branch_logic", 5)] == ("duplicate: dialogue identical to stack-001",)
    first_id = result.outcomes[0].dialogue.id
    assert verdicts[("stack_corruption", 6)] == (f"duplicate: dialogue identical to {first_id}",)
    assert len(result.accepted) == 1
    assert result.reason_counts() == {"duplicate": 2, "concepts": 1, "layout": 1, "anti-keywords": 1, "contamination": 1}


def test_outputs_review_and_merge_only_what_was_ticked(tmp_path: Path, cases_dir: Path, curated: Path):
    cases = load_cases(cases_dir)
    existing = load_dataset(curated).dialogues
    script = _script(tmp_path, {"stack_corruption": _layout(STACK_USER, STACK_ANSWER), "dma_errors": "nothing useful"})
    requests = build_requests(["stack_corruption", "dma_errors"], 1, existing, shared_concepts(cases), shots=1)
    result = synthesize(ScriptedBackend.from_file(script), requests, QualityGate(existing, cases), GenerationSettings())
    out = tmp_path / "synthetic"
    write_outputs(out, result)

    accepted = load_dataset(out / ACCEPTED_FILE)
    assert not accepted.findings
    (dialogue,) = accepted.dialogues
    assert (dialogue.source, dialogue.model, dialogue.category) == ("synthetic", f"scripted:{script.name}", "stack_corruption")
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert rejected == [{"category": "dma_errors", "reasons": ["layout: no '### User' section followed by an '### Assistant' section"], "text": "nothing useful"}]
    review = (out / "review.md").read_text()
    assert f"- [ ] accept {dialogue.id}\n" in review and STACK_ANSWER in review

    target = tmp_path / "train.jsonl"
    target.write_bytes(curated.read_bytes())
    before = target.read_text()
    unticked = merge_reviewed(out / "review.md", target, cases)
    assert (unticked.added, unticked.unticked) == ((), 1)
    assert target.read_text() == before

    (out / "review.md").write_text(review.replace(f"- [ ] accept {dialogue.id}", f"- [x] accept {dialogue.id}"))
    merged = merge_reviewed(out / "review.md", target, cases)
    assert merged.added == (dialogue.id,)
    assert target.read_text().startswith(before)
    assert [d.id for d in load_dataset(target).dialogues] == ["stack-001", "dma-001", dialogue.id]
    assert merge_reviewed(out / "review.md", target, cases).already_there == (dialogue.id,)


def test_an_edited_dialogue_that_no_longer_passes_is_refused_at_merge(tmp_path: Path, cases_dir: Path, curated: Path):
    cases = load_cases(cases_dir)
    out = tmp_path / "synthetic"
    out.mkdir()
    record = _record(STACK_USER, STACK_ANSWER.replace("**What's happening:**", "Steps:"), "synthetic-0123456789ab", "stack_corruption")
    (out / ACCEPTED_FILE).write_text(json.dumps({**record, "source": "synthetic", "model": "m"}) + "\n")
    (out / "review.md").write_text("- [x] accept synthetic-0123456789ab\n")
    target = tmp_path / "train.jsonl"
    target.write_bytes(curated.read_bytes())

    merged = merge_reviewed(out / "review.md", target, cases)

    assert merged.added == ()
    assert merged.refused[0][0] == "synthetic-0123456789ab" and "format: whats-happening" in merged.refused[0][1]
    assert target.read_bytes() == curated.read_bytes()


def test_synthesize_and_accept_from_the_command_line(tmp_path: Path, cases_dir: Path, curated: Path, capsys):
    script = _script(tmp_path, {"stack_corruption": _layout(STACK_USER, STACK_ANSWER)})
    out = tmp_path / "synthetic"
    common = ["--cases", str(cases_dir)]

    status = main(["data", "synthesize", str(curated), "--model", f"scripted:{script}", "--examples", str(curated),
                   "--category", "stack_corruption", "--category", "dma_errors", "--count", "1", "--output-dir", str(out), *common])
    printed = capsys.readouterr().out

    assert status == 0
    assert f"scripted:{script.name}: 2 generated, 1 accepted (50%), 1 rejected\n  layout: 1\n" in printed
    identifier = load_dataset(out / ACCEPTED_FILE).dialogues[0].id
    review = out / "review.md"
    review.write_text(review.read_text().replace(f"- [ ] accept {identifier}", f"- [x] accept {identifier}"))
    target = tmp_path / "train.jsonl"
    target.write_bytes(curated.read_bytes())
    assert main(["data", "synthesize", "--accept-reviewed", str(review), "--into", str(target), *common]) == 0
    assert f"merged 1 reviewed dialogues into {target}; 0 were already there, 0 not ticked" in capsys.readouterr().out
    assert main(["data", "synthesize", "--model", "nonsense-model"]) == 2
    assert "farore data: unknown model 'nonsense-model'" in capsys.readouterr().err


def test_synthesize_over_http_against_the_local_ollama_api_server(httpserver, tmp_path: Path, cases_dir: Path, curated: Path):
    cases = load_cases(cases_dir)
    existing = load_dataset(curated).dialogues
    ollama = FakeOllama(
        httpserver,
        {"farore:test": DIGEST},
        answers={"Bug category: stack_corruption:": _layout(STACK_USER, STACK_ANSWER)},
        default="I'm sorry, I cannot help with that.",
    )
    backend = resolve_backend("farore:test", ollama_host=ollama.url)
    backend.check()
    requests = build_requests(["stack_corruption", "dma_errors"], 2, existing, shared_concepts(cases), shots=1)

    result = synthesize(backend, requests, QualityGate(existing, cases), GenerationSettings(max_new_tokens=256))

    assert len(ollama.chats) == 4
    assert ollama.chats[0]["messages"][-1]["content"] == requests[0].prompt
    assert [o.accepted for o in result.outcomes] == [True, False, False, False]
    assert result.outcomes[1].reasons[0].startswith("duplicate: dialogue identical to synthetic-")
    assert result.reason_counts() == {"layout": 2, "duplicate": 1}
    assert result.accepted[0].dialogue.model == "farore:test"


@pytest.mark.model
def test_the_embedded_model_is_rejected_by_the_gate_at_a_few_tokens(tmp_path: Path, cases_dir: Path, curated: Path):
    cases = load_cases(cases_dir)
    existing = load_dataset(curated).dialogues
    backend = resolve_backend("embedded", batch_size=2)
    requests = build_requests(["stack_corruption"], 2, existing, shared_concepts(cases), shots=0)

    result = synthesize(backend, requests, QualityGate(existing, cases), GenerationSettings(max_new_tokens=32, temperature=0.7, seed=1))

    assert len(result.outcomes) == 2
    assert result.accepted == []
    assert all(o.reasons and o.text for o in result.outcomes)


def test_an_interrupted_run_keeps_the_chunks_it_finished(tmp_path: Path, cases_dir: Path, curated: Path):
    cases = load_cases(cases_dir)
    existing = load_dataset(curated).dialogues
    script = _script(tmp_path, {"stack_corruption": _layout(STACK_USER, STACK_ANSWER)})
    requests = build_requests(["stack_corruption", "dma_errors"], 5, existing, shared_concepts(cases), shots=1)
    out = tmp_path / "synthetic"

    def write_then_interrupt(result):
        write_outputs(out, result)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synthesize(ScriptedBackend.from_file(script), requests, QualityGate(existing, cases), GenerationSettings(), write_then_interrupt)

    written = len(load_dataset(out / ACCEPTED_FILE).dialogues) + len((out / "rejected.jsonl").read_text().splitlines())
    assert written == GATE_CHUNK < len(requests)
