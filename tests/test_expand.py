"""`farore data expand`: each transformation on small dialogues, its refusals, and the variations' gates."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from dataset_samples import GOOD, USER

from farore.cli import main
from farore.dataset.dedup import find_duplicates
from farore.dataset.expand import (
    NotApplicable,
    expand_dialogues,
    move_dma_channel,
    relocate_variables,
    rename_routines,
    reword_symptom,
    swap_index_registers,
    trace_steps,
    vary_constants,
)
from farore.dataset.format import check_format
from farore.dataset.schema import Dialogue, Message, dialogue_record, load_dataset
from farore.dataset.trace import Untraceable, trace
from farore.train.data import records

CLOBBER_USER = """The HUD hearts are drawn in the wrong places and the loop never ends. What's wrong?

```asm
; A/X/Y 8-bit, X = HUD buffer offset
HUD_DrawHearts:
    LDY #$03
.loop
    JSR HUD_PutTile
    INX : INX
    DEY
    BPL .loop
    RTS

HUD_PutTile:
    LDY $0F40           ; theme
    LDA HeartTiles,y
    STA $0E00,x
    RTS
```"""
CLOBBER_ANSWER = """**Bug: Callee clobbers the caller's loop counter in Y**

HUD_DrawHearts counts with Y, but HUD_PutTile loads Y from $0F40 and never restores it, so the
counter is replaced on every call and the M/X flags have nothing to do with it.

**What's happening:**
1. The caller sets Y = 3 and calls HUD_PutTile.
2. `LDY $0F40` overwrites Y; `LDA HeartTiles,y` uses the theme as the index.
3. Back in the caller, DEY counts down from the theme value, not from 3.

**Fix:** Make the helper callee-save for Y with PHY/PLY:
```asm
HUD_PutTile:
    PHY
    LDY $0F40
    LDA HeartTiles,y
    STA $0E00,x
    PLY
    RTS
```"""

DMA_USER = """Since I moved the tile upload, the whole screen is garbage after every door. Find the bug.

```asm
; A 8-bit, X/Y 16-bit
Door_UploadTiles:
    LDX #$2000
    STX $4302           ; source offset
    LDA #$7F
    STA $4304           ; source bank
    LDA #$00
    STA $4305
    STZ $4306
    LDA #$01
    STA $420B
    RTS
```"""
DMA_ANSWER = """**Bug: DMA count of 0 transfers 65536 bytes**

The count written to $4305/$4306 is $0000, and for a DMA channel a count of 0 means 65536 bytes,
so channel 0 copies 64 KB of bank $7F into VRAM.

**What's happening:**
1. `STA $4305` and `STZ $4306` leave channel 0's count at 0.
2. `LDA #$01 : STA $420B` starts channel 0, which runs for 65536 bytes.

**Fix:** Write the real byte count before starting channel 0:
```asm
    LDX #$0800
    STX $4305
```"""


def _dialogue(user: str, answer: str, id: str = "d-001", category: str = "register_clobbering") -> Dialogue:
    return Dialogue("data.jsonl", 1, (Message("user", user), Message("assistant", answer)), id, category, "curated")


def _apply(transformation, user: str, answer: str, seed: int = 1):
    messages, detail = transformation(_dialogue(user, answer).messages, random.Random(seed))
    return messages[0].content, messages[1].content, detail


def test_swap_index_registers_moves_every_dependent_statement_and_the_prose():
    user, answer, _ = _apply(swap_index_registers, CLOBBER_USER, CLOBBER_ANSWER)

    assert "; A/X/Y 8-bit, Y = HUD buffer offset" in user
    assert "    LDX #$03\n.loop\n    JSR HUD_PutTile\n    INY : INY\n    DEX\n" in user
    assert "    LDX $0F40           ; theme\n    LDA HeartTiles,x\n    STA $0E00,y\n" in user
    assert answer.startswith("**Bug: Callee clobbers the caller's loop counter in X**")
    assert "counts with X, but HUD_PutTile loads X from $0F40" in answer
    assert "the M/X flags have nothing to do with it" in answer
    assert "2. `LDX $0F40` overwrites X; `LDA HeartTiles,x` uses the theme as the index." in answer
    assert "callee-save for X with PHX/PLX:\n```asm\nHUD_PutTile:\n    PHX\n" in answer
    assert "    PLX\n    RTS" in answer


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("    LDA [$00],y", "LDA has no [dp],x addressing mode"),
        ("    LDA.l $7E2000,x", "LDA has no long,y addressing mode"),
        ("    STZ $0E00,x", "STZ has no abs,y addressing mode"),
        ("    JMP (Table,x)", "JMP has no (abs,y) addressing mode"),
        ("    TXS", "TXS gives X and Y fixed roles"),
    ],
)
def test_swap_refuses_when_the_other_register_has_no_such_instruction(line: str, reason: str):
    user = CLOBBER_USER.replace("    RTS\n```", f"{line}\n    RTS\n```")
    with pytest.raises(NotApplicable, match=f"^{re.escape(reason)}"):
        _apply(swap_index_registers, user, CLOBBER_ANSWER)


def test_swap_refuses_a_dialogue_that_also_means_coordinates_by_x_and_y():
    user = CLOBBER_USER.replace("The HUD hearts", "Link's Y position is fine, but the HUD hearts")
    with pytest.raises(NotApplicable, match="coordinates"):
        _apply(swap_index_registers, user, CLOBBER_ANSWER)


def test_move_dma_channel_moves_registers_enable_bit_and_prose_together():
    user, answer, detail = _apply(move_dma_channel, DMA_USER, DMA_ANSWER, seed=3)
    new = int(detail.rsplit(" ", 1)[1])

    assert detail == f"channel 0 -> {new}" and new != 0
    assert f"    STX $43{new}2           ; source offset" in user
    assert f"    LDA #${1 << new:02X}\n    STA $420B" in user
    assert "$430" not in user + answer
    assert f"$43{new}5/$43{new}6 is $0000" in answer
    assert f"so channel {new} copies 64 KB" in answer
    assert f"`LDA #${1 << new:02X} : STA $420B` starts channel {new}" in answer


def test_move_dma_channel_refuses_two_channels():
    with pytest.raises(NotApplicable, match=r"channels \[0, 1\]"):
        _apply(move_dma_channel, DMA_USER.replace("Find the bug.", "Channel 1 does the OAM. Find the bug."), DMA_ANSWER)


def test_relocate_moves_variables_their_high_bytes_and_long_forms_by_one_offset():
    user = CLOBBER_USER.replace("theme\n", "theme ($0F40/$0F41, also $7E:0F40)\n")
    moved_user, answer, detail = _apply(relocate_variables, user, CLOBBER_ANSWER)
    offset = int(detail.split("$")[1], 16) * (1 if "+" in detail else -1)
    theme, buffer = f"{0x0F40 + offset:04X}", f"{0x0E00 + offset:04X}"

    assert f"    LDY ${theme}           ; theme (${theme}/${0x0F41 + offset:04X}, also $7E:{theme})" in moved_user
    assert f"    STA ${buffer},x" in moved_user
    assert f"loads Y from ${theme}" in answer
    assert "#$03" in moved_user  # immediates are values, not addresses


def test_relocate_refuses_an_address_it_cannot_tie_to_an_operand():
    answer = CLOBBER_ANSWER.replace("3. Back", "3. The next tile lands at $0E40.\n4. Back")
    with pytest.raises(NotApplicable, match=r"\$0E40 is mentioned but is not an operand"):
        _apply(relocate_variables, CLOBBER_USER, answer)


def test_rename_routines_renames_each_label_everywhere():
    user, answer, detail = _apply(rename_routines, CLOBBER_USER, CLOBBER_ANSWER)
    renames = dict(pair.split(" -> ") for pair in detail.split(", "))

    assert set(renames) <= {"HUD_DrawHearts", "HUD_PutTile", "HeartTiles"} and renames
    for old, new in renames.items():
        assert old not in user + answer
        assert (CLOBBER_USER + CLOBBER_ANSWER).count(old) == (user + answer).count(new)
    assert ".loop" in user


def test_vary_constants_keeps_the_operand_size_of_the_flag_in_effect():
    user = """The timer is too short. What's wrong?

```asm
Timer_Start:
    REP #$20
    LDA #$0030
    STA $0E80
    SEP #$20
    LDA #$14
    STA $0E82
    LDA.b #$20
    STA $0E84
    RTS
```"""
    varied, _, detail = _apply(vary_constants, user, CLOBBER_ANSWER)
    sixteen, eight = (part.split(" -> ")[1] for part in detail.split(", "))

    assert detail.startswith("#$0030 -> #$") and len(sixteen) == 6 and len(eight) == 4
    assert f"    LDA {sixteen}\n    STA $0E80" in varied and f"    LDA {eight}\n    STA $0E82" in varied
    assert "    LDA.b #$20\n" in varied  # an explicit size may be the bug: left alone


def test_vary_constants_leaves_values_the_text_talks_about():
    user = "The stun lasts 48 frames instead of 60. What's wrong?\n\n```asm\nStun:\n    SEP #$20\n    LDA #$30\n    STA $0E80\n    RTS\n```"
    with pytest.raises(NotApplicable):
        _apply(vary_constants, user, CLOBBER_ANSWER)


def test_reword_symptom_rewords_only_the_users_prose():
    user, answer, detail = _apply(reword_symptom, CLOBBER_USER, CLOBBER_ANSWER)
    assert "What's wrong?" not in user
    assert user.split("\n\n", 1)[1] == CLOBBER_USER.split("\n\n", 1)[1]  # the code is untouched
    assert answer == CLOBBER_ANSWER
    assert detail.startswith("\"What's wrong?\" -> ")


def test_expand_is_deterministic_records_provenance_and_passes_the_format():
    parents = [_dialogue(CLOBBER_USER, CLOBBER_ANSWER), _dialogue(DMA_USER, DMA_ANSWER, "d-002", "dma_errors")]

    first = expand_dialogues(parents, per_dialogue=2, seed=7, dialogue_threshold=1.01, code_threshold=1.01)
    again = expand_dialogues(parents, per_dialogue=2, seed=7, dialogue_threshold=1.01, code_threshold=1.01)
    other = expand_dialogues(parents, per_dialogue=2, seed=8, dialogue_threshold=1.01, code_threshold=1.01)

    assert first == again
    assert [v.dialogue.messages for v in first.variations] != [v.dialogue.messages for v in other.variations]
    assert [v.dialogue.id for v in first.kept] == ["d-001.x1", "d-001.x2", "d-002.x1"]
    assert first.variations[3].verdict == "near-duplicate of d-002.x1 (code 1.00)"  # the same code: exact, whatever the threshold
    record = dialogue_record(first.kept[0].dialogue)
    assert record["source"] == "expanded" and record["parent"] == "d-001"
    assert record["transformations"][0] == "swap-index-registers: X <-> Y"
    every, fewer = first.variations[2].dialogue.transformations, first.variations[3].dialogue.transformations
    assert every[0] == "swap-index-registers: X <-> Y" and every[1].startswith("move-dma-channel: channel 0 -> ")
    assert every[-1] == "trace-steps: 6 steps traced from the code"
    assert fewer[:1] == ("swap-index-registers: X <-> Y",) and not any(t.startswith("trace-steps") for t in fewer)
    assert not check_format([v.dialogue for v in first.kept]).findings


def test_the_dedup_gate_keeps_a_variation_that_differs_enough_and_drops_the_near_duplicates():
    parents = [_dialogue(CLOBBER_USER, CLOBBER_ANSWER), _dialogue(DMA_USER, DMA_ANSWER, "d-002", "dma_errors")]
    result = expand_dialogues(parents, per_dialogue=3, seed=7)

    verdicts = {v.dialogue.id: v.verdict for v in result.variations}
    assert verdicts["d-001.x2"] == "kept"  # no trace, but the clobber story is told through the register: X <-> Y changes it
    assert verdicts["d-002.x1"] == "kept"  # the count story barely mentions X: the traced steps make the difference
    assert verdicts["d-002.x2"] == "near-duplicate of the parent (dialogue 0.79)"  # swap and channel move, no trace
    assert verdicts["d-002.x3"] == "near-duplicate of d-002.x1 (dialogue 0.88)"  # the same trace without the channel move
    assert result.similarities("dialogue") == pytest.approx([0.79, 0.88], abs=0.005)
    assert result.used("trace-steps") == 3 and result.without_semantic == 0


def test_a_dialogue_without_a_semantic_transformation_gets_no_variation():
    two_blocks = USER + "\n\nIt is called from here:\n\n```asm\n    JSR Hud_Refresh\n```"
    result = expand_dialogues([_dialogue(two_blocks, GOOD, category="mode_mismatch")], seed=7)  # no X, Y or DMA channel
    assert (result.without_semantic, result.variations) == (1, ())
    refused = {r.transformation: r.reason for r in result.refusals}
    assert refused["swap-index-registers"] == "the code does not use X or Y"
    assert refused["move-dma-channel"] == "no DMA channel register in the dialogue"
    assert refused["trace-steps"] == "the user shows 2 code blocks, not one"


def test_trace_steps_retells_whats_happening_and_keeps_the_diagnosis_and_the_fix():
    user, answer, detail = _apply(trace_steps, DMA_USER, DMA_ANSWER)

    before, _, after = answer.partition("**What's happening:**")
    steps, _, fix = after.partition("**Fix:**")
    assert user == DMA_USER and detail == "6 steps traced from the code"
    assert before == DMA_ANSWER.partition("**What's happening:**")[0]
    assert fix == DMA_ANSWER.partition("**Fix:**")[2]
    assert "1. `LDX #$2000` / `STX $4302` (at Door_UploadTiles): `#$2000` goes to `$4302` (DMA channel 0 source address)." in steps
    # no REP/SEP before it: the width the comment states is not taken on trust, so no size is claimed
    assert "4. `STZ $4306`: writes zero to `$4306` (DMA channel 0 byte count, high byte)." in steps
    assert steps.rstrip().endswith("so the stack pointer is where it was on entry.")
    assert not check_format([_dialogue(user, answer)]).findings


def test_trace_follows_each_path_to_its_return_and_finds_the_unbalanced_one():
    steps = trace(
        "Menu_Shift:\n    PHP\n    SEP #$30\n    LDA $F4\n    BEQ .none\n    INC $1492\n    PLP\n    RTS\n"
        ".none\n    RTS\n"
    )
    effects = {s.written: s.effect for s in steps}
    assert effects["`SEP #$30`"] == "M=1: A is 8-bit; X=1: X and Y are 8-bit, their high bytes now 0"
    assert effects["`LDA $F4`"] == "A = the byte at `$F4`"
    first_return = next(s for s in steps if s.written == "`RTS`")
    assert first_return.effect.endswith("; every push of this routine had its pull, so the stack pointer is where it was on entry")
    assert steps[-1].written == "`RTS` (at .none)"
    assert steps[-1].effect == (
        "returns: pulls a 2-byte return address with the stack out of balance (1 byte pushed by this routine), "
        "so the return address comes from the wrong bytes"
    )


def test_trace_keeps_a_push_and_its_pull_together_when_the_width_is_unknown():
    steps = trace("Bat:\n    PHA\n    LDA $0F20,x\n    PLA\n    RTS\n")
    assert steps[0].effect == "pushes A (1 or 2 bytes, per the flag); 1 or 2 bytes pushed by this routine, depending on the path and the flags"
    assert steps[2].effect == "pulls A (1 or 2 bytes, per the flag); the stack is back at its level on entry"
    assert steps[1].effect == "A = the value at `$0F20,x`"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("Loop:\n    DEX\n    BNE -\n    RTS\n", "BNE -: anonymous labels are not followed"),
        ("Caller:\n    LDA #$01\n\nHelper:\n    RTS\n", "the code runs into Helper: whether the listing is contiguous there is unclear"),
        ("Hud:\n    REP #$20\n    LDA #$01\n    RTS\n", "LDA #$01: the immediate's size does not match the flag, the assembler decides what runs"),
        ("Tbl:\n    dw $0001\n!Fuse = $3C\n", "cannot read the line '!Fuse = $3C'"),
    ],
)
def test_trace_refuses_code_it_cannot_follow_with_certainty(code: str, reason: str):
    with pytest.raises(Untraceable, match=re.escape(reason)):
        trace(code)


def test_a_variation_of_a_curated_dialogue_survives_the_dedup_gate_against_its_parent():
    curated = load_dataset(Path(__file__).parents[1] / "fixtures" / "datasets" / "curated" / "train.jsonl").dialogues
    parent = next(d for d in curated if d.id == "stack-005")

    (variation,) = expand_dialogues([parent], per_dialogue=1).kept

    assert find_duplicates([parent, variation.dialogue]).passed
    assert not check_format([variation.dialogue]).findings
    assert variation.dialogue.transformations[-1].startswith("trace-steps: ")
    answer = variation.dialogue.messages[-1].content
    assert "with the stack out of balance (1 byte pushed by this routine)" in answer and "PHP" in answer


def test_expand_command_writes_variations_that_load_back_and_prints_them_beside_their_parents(tmp_path: Path, capsys):
    source = tmp_path / "curated.jsonl"
    parents = [_dialogue(CLOBBER_USER, CLOBBER_ANSWER), _dialogue(DMA_USER, DMA_ANSWER, "d-002", "dma_errors")]
    source.write_text("".join(json.dumps(dialogue_record(d)) + "\n" for d in parents), encoding="utf-8")
    output = tmp_path / "expanded.jsonl"

    status = main(["data", "expand", str(source), "--output", str(output), "--threshold", "1.01", "--code-threshold", "1.01", "--show", "1"])
    printed = capsys.readouterr().out

    assert status == 0
    loaded = load_dataset(output)
    assert not loaded.findings
    assert [d.parent for d in loaded.dialogues] == ["d-001", "d-001", "d-002", "d-002"]
    assert "in: 2 dialogues; 4 variations made, none for the 0 dialogues no semantic transformation applies to" in printed
    assert "  similarity of the dropped: dialogue none; code none" in printed
    assert f"out: 4 variations written to {output}" in printed
    assert "  trace-steps: 2 of 2; in 2 written" in printed
    assert "--- user (parent)\n+++ user (variation)" in printed
    assert main(["data", "expand", str(source), "--output", str(output)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err


def test_provenance_survives_into_training_records_and_balance_counts_each_source(tmp_path: Path, capsys):
    parents = [_dialogue(CLOBBER_USER, CLOBBER_ANSWER)]
    variation = expand_dialogues(parents, per_dialogue=1, seed=7).kept[0].dialogue
    synthetic = Dialogue("s.jsonl", 1, parents[0].messages, "synthetic-0123456789ab", "stack_corruption", "synthetic", model="farore:test")
    mined = Dialogue("m.jsonl", 1, parents[0].messages, "mined-0123456789ab", None, "mined", commit="0123456789ab" * 3 + "0123")
    path = tmp_path / "all.jsonl"
    path.write_text("".join(json.dumps(dialogue_record(d)) + "\n" for d in [*parents, variation, synthetic, mined]))

    loaded = load_dataset(path)
    rows = records(loaded.dialogues)

    assert not loaded.findings
    assert rows[1]["parent"] == "d-001" and rows[1]["transformations"] == list(variation.transformations)
    assert rows[2]["model"] == "farore:test" and rows[3]["commit"] == mined.commit
    assert main(["data", "balance", str(path), "--category", "register_clobbering"]) == 0
    table = capsys.readouterr().out
    for source in ("curated", "expanded", "synthetic", "mined"):
        assert re.search(rf"^  {source} +1 +25\.0%$", table, re.MULTILINE), table


def test_rename_routines_leaves_a_label_that_begins_a_longer_name():
    user = "Upload the font.\n\n```asm\nFont_Upload:\n    LDA #FontGfxEnd-FontGfx\n    JSR Dma_Start\n    RTS\n```"
    answer = "**Bug: wrong length**\n\nThe length is FontGfxEnd-FontGfx, measured from FontGfx.\n\n**Fix:** keep it."
    user_out, answer_out, detail = _apply(rename_routines, user, answer)

    assert "FontGfx" not in detail
    assert "FontGfxEnd-FontGfx" in user_out + answer_out
