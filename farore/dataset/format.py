"""The diagnosis-first answer format, as named rules over each assistant reply.

The format (the seed's Option A)::

    **Bug: 16-bit/8-bit mode mismatch**

    REP #$20 leaves the accumulator 16-bit, so the store writes two bytes ...

    **What's happening:**
    1. REP #$20 sets A to 16-bit mode
    2. ...

    **Fix:**
    Add SEP #$20 before the store ...   (a code block may follow here)

Rules, each reported as ``file:line: rule: message``:

* ``bug-header``: the reply opens with ``**Bug: <type>**``, the type not empty.
* ``explanation-first``: between the header and the first section there is an explanation of at
  least ``EXPLANATION_MIN_WORDS`` words of prose (code blocks do not count).
* ``whats-happening``: a ``**What's happening:**`` section comes before the Fix section.
* ``numbered-steps``: that section holds at least two numbered steps (``1.``, ``2)``, ...).
* ``fix-last``: a ``**Fix:**`` section with content ends the reply (no section after it).
* ``code-before-fix``: no fenced code block before the Fix section, so no code before the bug
  is named and the explanation is given.

A section starts at a line opening with a bold label ending in a colon (``**Fix:**``); lines
inside fenced code blocks are never sections. Strict mode makes every violation an error; lenient
mode makes them warnings and passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from farore.dataset.schema import Dialogue, Finding
from farore.scoring import normalize

EXPLANATION_MIN_WORDS = 8
MIN_STEPS = 2

_HEADER = re.compile(r"\*\*Bug:([^*\n]*)\*\*")
_SECTION = re.compile(r"^\s*\*\*([^*\n]+?):\*\*")
_FENCE = re.compile(r"^\s*(```|~~~)")
_STEP = re.compile(r"^\s*\d+[.)]\s+\S")
_WORD = re.compile(r"[A-Za-z0-9$#][\w$#'/.-]*")


@dataclass(frozen=True)
class Section:
    title: str
    start: int
    end: int

    @property
    def name(self) -> str:
        return self.title.lower()


@dataclass(frozen=True)
class Reply:
    """An assistant reply cut into lines, sections (by line index) and code-block lines."""

    lines: tuple[str, ...]
    sections: tuple[Section, ...]
    code_lines: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Reply:
        lines = tuple(normalize(text).strip().splitlines())
        code: set[int] = set()
        starts: list[tuple[str, int]] = []
        fenced = False
        for index, line in enumerate(lines):
            if _FENCE.match(line):
                code.add(index)
                fenced = not fenced
            elif fenced:
                code.add(index)
            elif match := _SECTION.match(line):
                starts.append((match.group(1).strip(), index))
        ends = [start for _, start in starts[1:]] + [len(lines)]
        sections = tuple(Section(title, start, end) for (title, start), end in zip(starts, ends))
        return cls(lines, sections, frozenset(code))

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def prose(self, start: int, end: int, skip_prefix: str = "") -> str:
        """The text of lines [start, end) outside code blocks."""
        kept = [self.lines[i] for i in range(start, end) if i not in self.code_lines]
        if kept and skip_prefix:
            kept[0] = kept[0].replace(skip_prefix, "", 1)
        return "\n".join(kept)


def _opening(reply: Reply) -> str:
    return reply.lines[0] if reply.lines else ""


def _check_header(reply: Reply) -> str | None:
    opening = _opening(reply)
    match = _HEADER.match(opening)
    if match is None:
        return f"the reply must open with **Bug: <type>**; it opens with {opening[:60]!r}"
    if not match.group(1).strip():
        return "the bug header names no bug type"
    return None


def _check_explanation(reply: Reply) -> str | None:
    header = _HEADER.match(_opening(reply))
    end = reply.sections[0].start if reply.sections else len(reply.lines)
    prose = reply.prose(0, end, skip_prefix=header.group(0) if header else "")
    words = len(_WORD.findall(prose))
    if words < EXPLANATION_MIN_WORDS:
        return (
            f"the bug must be explained in prose (at least {EXPLANATION_MIN_WORDS} words) before the first "
            f"section; found {words} words"
        )
    return None


def _check_whats_happening(reply: Reply) -> str | None:
    happening = reply.section("what's happening")
    if happening is None:
        return "no **What's happening:** section"
    fix = reply.section("fix")
    if fix is not None and fix.start < happening.start:
        return "the **What's happening:** section must come before the **Fix:** section"
    return None


def _check_steps(reply: Reply) -> str | None:
    happening = reply.section("what's happening")
    if happening is None:
        return None
    steps = sum(
        1
        for i in range(happening.start + 1, happening.end)
        if i not in reply.code_lines and _STEP.match(reply.lines[i])
    )
    if steps < MIN_STEPS:
        return f"**What's happening:** needs at least {MIN_STEPS} numbered steps (1. 2. ...); found {steps}"
    return None


def _check_fix(reply: Reply) -> str | None:
    fix = reply.section("fix")
    if fix is None:
        return "no **Fix:** section"
    if fix is not reply.sections[-1]:
        return f"the **Fix:** section must be the last; **{reply.sections[-1].title}:** follows it"
    heading = _SECTION.match(reply.lines[fix.start])
    body = reply.lines[fix.start][heading.end():].strip() if heading else ""
    if not body and not any(line.strip() for line in reply.lines[fix.start + 1 : fix.end]):
        return "the **Fix:** section is empty"
    return None


def _check_code_placement(reply: Reply) -> str | None:
    fix = reply.section("fix")
    limit = fix.start if fix is not None else len(reply.lines)
    early = sorted(i for i in reply.code_lines if i < limit)
    if not early:
        return None
    if fix is None:
        return f"a code block at reply line {early[0] + 1} and no **Fix:** section to hold it: diagnose first"
    return f"a code block at reply line {early[0] + 1} comes before the **Fix:** section: diagnose first"


@dataclass(frozen=True)
class FormatRule:
    name: str
    check: Callable[[Reply], str | None]


RULES: tuple[FormatRule, ...] = (
    FormatRule("bug-header", _check_header),
    FormatRule("explanation-first", _check_explanation),
    FormatRule("whats-happening", _check_whats_happening),
    FormatRule("numbered-steps", _check_steps),
    FormatRule("fix-last", _check_fix),
    FormatRule("code-before-fix", _check_code_placement),
)
RULE_NAMES: tuple[str, ...] = tuple(rule.name for rule in RULES)


def check_reply(text: str) -> list[tuple[str, str]]:
    """The (rule, message) pairs that one assistant reply violates."""
    reply = Reply.parse(text)
    return [(rule.name, message) for rule in RULES if (message := rule.check(reply))]


@dataclass(frozen=True)
class FormatResult:
    strict: bool
    dialogues: int
    findings: tuple[Finding, ...]

    @property
    def passed(self) -> bool:
        return not self.strict or not self.findings

    @property
    def failing_dialogues(self) -> int:
        return len({(f.path, f.line) for f in self.findings})


def check_format(dialogues: Sequence[Dialogue], strict: bool = True) -> FormatResult:
    """Check every assistant reply of every dialogue; in lenient mode findings are warnings."""
    severity = "error" if strict else "warning"
    findings = []
    for dialogue in dialogues:
        replies = dialogue.texts("assistant")
        for turn, text in enumerate(replies, 1):
            prefix = f"assistant turn {turn}: " if len(replies) > 1 else ""
            findings.extend(
                Finding(dialogue.path, dialogue.line, rule, prefix + message, severity)
                for rule, message in check_reply(text)
            )
    return FormatResult(strict, len(dialogues), tuple(findings))
