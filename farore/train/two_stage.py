"""The stages of a run: one on full answers, or the seed's Option B in two.

Option B: stage 1 learns the diagnosis alone (every answer without its ``**Fix:**`` section, so
the bug header, the explanation and the numbered steps), stage 2 continues from stage 1's adapter
on the full answers. The answer is cut where the dataset format validator
(``farore.dataset.format``) finds the Fix section, so both agree on what a section is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from farore.dataset.format import Reply


@dataclass(frozen=True)
class Stage:
    name: str
    description: str
    transform: Callable[[Sequence[dict]], list[dict]]


def diagnosis_only(answer: str) -> str:
    """The answer up to its Fix section (the whole answer when it has none)."""
    reply = Reply.parse(answer)
    fix = reply.section("fix")
    if fix is None:
        return answer
    return "\n".join(reply.lines[: fix.start]).rstrip()


def diagnosis_records(rows: Sequence[dict]) -> list[dict]:
    def cut(message: dict) -> dict:
        if message["role"] != "assistant":
            return message
        return {**message, "content": diagnosis_only(message["content"])}

    return [{**row, "messages": [cut(m) for m in row["messages"]]} for row in rows]


def unchanged(rows: Sequence[dict]) -> list[dict]:
    return list(rows)


FULL = Stage("full", "full answers: diagnosis, explanation and fix", unchanged)
DIAGNOSIS = Stage("diagnosis", "stage 1: diagnosis-only answers (the **Fix:** sections removed)", diagnosis_records)


def stages(two_stage: bool) -> tuple[Stage, ...]:
    return (DIAGNOSIS, FULL) if two_stage else (FULL,)
