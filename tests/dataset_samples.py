"""Dialogues for the dataset toolkit's tests: a reply in the diagnosis-first format and helpers
that turn messages into dataset lines and files."""

from __future__ import annotations

import json
from pathlib import Path

from farore.dataset.schema import Dialogue, Message

DATA = Path(__file__).parent / "data"

USER = """My screen flashes every time the HUD redraws. Find the bug:

```asm
Hud_Refresh:
    REP #$20
    LDA.w $0F40
    STA.w $2100
    RTS
```"""

GOOD = """**Bug: 16-bit/8-bit mode mismatch**

REP #$20 leaves the accumulator 16-bit, so the store to the 8-bit INIDISP register also writes
$2101, which is why the screen flashes.

**What's happening:**
1. REP #$20 clears the M flag: A is 16-bit.
2. STA.w $2100 writes the low byte to $2100 and the high byte to $2101.

**Fix:** switch A back to 8-bit before the store:
```asm
    SEP #$20
    LDA.w $0F40
    STA.w $2100
```"""


def dialogue(answer: str = GOOD, user: str = USER, *, line: int = 1, category: str | None = "mode_mismatch",
             source: str | None = "curated", id: str | None = None) -> Dialogue:
    messages = (Message("user", user), Message("assistant", answer))
    return Dialogue("data.jsonl", line, messages, id, category, source)


def record(answer: str = GOOD, user: str = USER, **metadata) -> dict:
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {**metadata, "messages": messages}


def write_lines(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path
