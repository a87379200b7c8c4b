"""Mine a git repository's history for real bug fixes in 65816 assembly, as draft dialogues.

The repository is only read: ``git rev-parse``, ``git log``, ``git diff-tree`` and
``git cat-file``, run through :mod:`subprocess` with ``GIT_OPTIONAL_LOCKS=0`` (so that not even
git's opportunistic index refresh writes). Plain git rather than GitPython: these four plumbing
commands are all that is needed, GitPython would shell out to the same git anyway, and its
object model makes writes (index, refs) as easy to reach as reads; no dependency to add.

A commit is a **bug fix** when all of these hold (first parent; merges are skipped):

* **message**: its subject or body names a bug as a whole word (``FIX_WORDS``: fix, bug,
  crash, glitch, wrong, broken, hang, freeze, corrupt, softlock, regression ...), and its
  subject is not about presentation (``COSMETIC_WORDS``: typo, comment, whitespace, formatting,
  indentation, docs, readme, spelling);
* **files**: it modifies at least one assembly file (``ASM_SUFFIXES``: .asm, .s, .inc), and no
  more than ``MAX_FILES`` of them; files it adds or deletes are not fixes of existing code;
* **diff**: in those files it changes at least one line of code (an instruction or directive:
  comment-only and blank-line changes do not count) and at most ``MAX_CHANGED_LINES`` of them
  (removed plus added): a fix is a small change, a rewrite is not.

The diff's **signals** are recorded for the reviewer and give the guessed category: changed
lines touching the DMA registers ($43n0-$43nA, $420B/$420C) suggest ``dma_errors``; PHX/PHY/
PLX/PLY ``register_clobbering``; other pushes and pulls or return instructions
(PHA/PLA/PHP/PLP/PHB/PLB/PHD/PLD/RTS/RTL/RTI) ``stack_corruption``; SEP/REP added where none was
removed ``missing_mode_switch``, otherwise SEP/REP or a ``.b``/``.w``/``.l`` size change
``mode_mismatch``. No signal leaves the category empty.

Each fix becomes one draft dialogue: the user turn is the commit message (the symptom, as the
fixer described it) and the pre-fix code of each changed region (widened to the enclosing
routine: up to the routine label above, down to the next label or the return after the change,
at most ``MAX_CONTEXT`` lines each way); the assistant turn opens with the ``REVIEW_MARKER``
placeholder that asks for the diagnosis and holds the fix as a unified diff of the region. The
placeholder deliberately fails the format validator: a draft cannot slip into a training set
until a human has written the diagnosis.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from farore.dataset.schema import Dialogue, Message, dialogue_record

ASM_SUFFIXES = (".asm", ".s", ".inc")
FIX_WORDS = (
    "fix", "fixes", "fixed", "fixing", "bug", "bugs", "bugfix", "crash", "crashes", "crashed", "crashing",
    "glitch", "glitches", "glitched", "glitchy", "wrong", "broken", "hang", "hangs", "freeze", "freezes",
    "froze", "frozen", "corrupt", "corrupts", "corrupted", "corruption", "softlock", "softlocks", "hardlock",
    "regression", "off-by-one",
)  # fmt: skip
COSMETIC_WORDS = ("typo", "typos", "comment", "comments", "whitespace", "formatting", "indentation", "docs", "readme", "spelling")
MAX_FILES = 3
MAX_CHANGED_LINES = 40
MAX_CONTEXT = 30
FALLBACK_CONTEXT = 6
REVIEW_MARKER = "[REVIEW]"

_FIX = re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, FIX_WORDS)) + r")(?![\w-])", re.IGNORECASE)
_COSMETIC = re.compile(r"\b(?:" + "|".join(COSMETIC_WORDS) + r")\b", re.IGNORECASE)
_ROUTINE_LABEL = re.compile(r"^([A-Za-z_][\w]*)(:|\s*$)")
_NOT_LABELS = frozenset({"pushpc", "pullpc", "endmacro", "else", "endif", "endm"})
_RETURN = re.compile(r"^\s*(?:rts|rtl|rti|jmp|jml|bra|brl)\b", re.IGNORECASE)
_SIGNALS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("dma", re.compile(r"\$43[0-7][0-9a-f]\b|\$420[bc]\b", re.IGNORECASE)),
    ("index-save", re.compile(r"\b(?:ph[xy]|pl[xy])\b", re.IGNORECASE)),
    ("stack", re.compile(r"\b(?:ph[abdkp]|pl[abdp]|pea|pei|per|rt[sli])\b", re.IGNORECASE)),
    ("mode", re.compile(r"\b(?:sep|rep)\b", re.IGNORECASE)),
    ("size", re.compile(r"\b[a-z]{3}\.[bwl]\b", re.IGNORECASE)),
)


class MineError(RuntimeError):
    """The repository cannot be read: not a repository, git missing, an unknown revision."""


@dataclass(frozen=True)
class Region:
    """One changed stretch of one file: the code before and after the fix, and their diff."""

    path: str
    first_line: int  # 1-based, in the file before the fix
    before: str
    after: str
    diff: str


@dataclass(frozen=True)
class MinedFix:
    commit: str
    subject: str
    message: str
    regions: tuple[Region, ...]
    changed_lines: int
    signals: tuple[str, ...]

    @property
    def category(self) -> str | None:
        return guess_category(self.signals)


@dataclass(frozen=True)
class MineResult:
    commits: int
    fixes: tuple[MinedFix, ...]


def guess_category(signals: Sequence[str]) -> str | None:
    if "dma" in signals:
        return "dma_errors"
    if "index-save" in signals:
        return "register_clobbering"
    if "stack" in signals:
        return "stack_corruption"
    if "mode-added" in signals:
        return "missing_mode_switch"
    if "mode" in signals or "size" in signals:
        return "mode_mismatch"
    return None


class Repository:
    """Read-only access to one git repository."""

    def __init__(self, path: Path):
        self.path = path
        if not path.is_dir():
            raise MineError(f"{path}: no such directory")
        self.git("rev-parse", "--git-dir")

    def git(self, *args: str, check: bool = True) -> str | None:
        environment = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_PAGER": "cat"}
        try:
            done = subprocess.run(
                ["git", "-C", str(self.path), "-c", "core.quotepath=off", *args],
                capture_output=True,
                env=environment,
                check=False,
            )
        except FileNotFoundError:
            raise MineError("git is not installed (or not on PATH): mining needs it") from None
        if done.returncode != 0:
            if not check:
                return None
            detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise MineError(f"{self.path}: git {args[0]} failed: {detail[-1] if detail else done.returncode}")
        return done.stdout.decode("utf-8", "replace")

    def commits(self, revision: str) -> list[tuple[str, str | None, str]]:
        """(hash, first parent or None, message) of the non-merge commits touching assembly files, oldest first."""
        self.git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
        pathspecs = [f":(icase)*{suffix}" for suffix in ASM_SUFFIXES]
        log = self.git("log", "--no-merges", "--reverse", "-z", "--format=%H%x1f%P%x1f%B", revision, "--", *pathspecs)
        commits = []
        for record in filter(None, log.split("\0")):
            commit, parents, message = record.lstrip("\n").split("\x1f", 2)
            commits.append((commit, parents.split()[0] if parents else None, message.strip()))
        return commits

    def changed_asm_files(self, parent: str, commit: str) -> list[str]:
        """Assembly files modified (not added, not deleted) between the two commits."""
        listing = self.git("diff-tree", "-r", "--no-renames", "-z", "--diff-filter=M", "--name-only", parent, commit)
        return [path for path in filter(None, listing.split("\0")) if path.lower().endswith(ASM_SUFFIXES)]

    def file_at(self, commit: str, path: str) -> str | None:
        return self.git("cat-file", "blob", f"{commit}:{path}", check=False)


def is_fix_message(message: str) -> bool:
    subject = message.splitlines()[0] if message else ""
    return bool(_FIX.search(message)) and not _COSMETIC.search(subject)


def _code(lines: Sequence[str]) -> list[str]:
    """The code of the lines: comments, blank lines and layout dropped."""
    statements = (" ".join(line.split(";", 1)[0].split()) for line in lines)
    return [statement for statement in statements if statement]


def _changed_code_lines(old_lines: Sequence[str], new_lines: Sequence[str]) -> int:
    """Code lines removed plus added, ignoring changes to comments, blank lines and layout."""
    matcher = difflib.SequenceMatcher(None, _code(old_lines), _code(new_lines), autojunk=False)
    return sum(i2 - i1 + j2 - j1 for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")


def _is_routine_label(line: str) -> bool:
    match = _ROUTINE_LABEL.match(line.split(";", 1)[0].rstrip())
    return bool(match) and match.group(1).lower() not in _NOT_LABELS


def _region_bounds(lines: Sequence[str], start: int, end: int) -> tuple[int, int]:
    """Widen the changed lines [start, end) to the enclosing routine, within MAX_CONTEXT lines."""
    top = next((i for i in range(start, max(start - MAX_CONTEXT, 0) - 1, -1) if i < len(lines) and _is_routine_label(lines[i])), None)
    if top is None:
        top = max(start - FALLBACK_CONTEXT, 0)
    bottom = None
    for i in range(end, min(end + MAX_CONTEXT, len(lines))):
        if _is_routine_label(lines[i]):
            bottom = i
            break
        if _RETURN.match(lines[i]):
            bottom = i + 1
            break
    if bottom is None:
        bottom = min(end + FALLBACK_CONTEXT, len(lines))
    while bottom > end and not lines[bottom - 1].strip():
        bottom -= 1
    return top, max(bottom, end)


def _map_position(opcodes: Sequence[tuple[str, int, int, int, int]], position: int, last: bool) -> int:
    """The line boundary of the new file that corresponds to ``position`` in the old file: the
    earliest one for a region's start, the ``last`` one for its end (so that lines inserted
    right there belong to the region)."""
    candidates = [j1 + position - i1 for tag, i1, i2, j1, _ in opcodes if tag == "equal" and i1 <= position <= i2]
    candidates += [j1 for _, i1, _, j1, _ in opcodes if i1 == position]
    candidates += [j2 for _, _, i2, _, j2 in opcodes if i2 == position]
    return max(candidates) if last else min(candidates)


_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


def _file_hunk_header(line: str, old_offset: int, new_offset: int) -> str:
    """A hunk header of a region's diff, renumbered to the lines of the whole files."""
    match = _HUNK.match(line)
    if match is None:
        return line
    old, old_count, new, new_count = match.groups()
    return f"@@ -{int(old) + old_offset}{old_count or ''} +{int(new) + new_offset}{new_count or ''} @@"


def changed_regions(path: str, old: str, new: str) -> tuple[list[Region], int]:
    """The routines the change touches, before and after, and the number of code lines changed."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    opcodes = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False).get_opcodes()
    changes = [op for op in opcodes if op[0] != "equal"]
    spans: list[list[int]] = []
    for _, i1, i2, _, _ in changes:
        top, bottom = _region_bounds(old_lines, i1, i2)
        # Never cut through a change: a bound inside one moves out to its edge.
        for _, k1, k2, _, _ in changes:
            if k1 < top < k2:
                top = k1
            if k1 < bottom < k2:
                bottom = k2
        if spans and top <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], bottom)
        else:
            spans.append([top, bottom])
    regions = []
    for top, bottom in spans:
        new_top = _map_position(opcodes, top, last=False)
        before, after = old_lines[top:bottom], new_lines[new_top : _map_position(opcodes, bottom, last=True)]
        diff = difflib.unified_diff(before, after, f"a/{path}", f"b/{path}", lineterm="", n=3)
        lines = [_file_hunk_header(line, top, new_top) for line in diff]
        regions.append(Region(path, top + 1, "\n".join(before), "\n".join(after), "\n".join(lines)))
    return regions, _changed_code_lines(old_lines, new_lines)


def _signals(regions: Sequence[Region]) -> tuple[str, ...]:
    removed, added = [], []
    for region in regions:
        for line in region.diff.splitlines()[2:]:
            code = line[1:].split(";", 1)[0]
            if line.startswith("-"):
                removed.append(code)
            elif line.startswith("+"):
                added.append(code)
    found = [name for name, pattern in _SIGNALS if any(pattern.search(line) for line in removed + added)]
    mode = _SIGNALS[3][1]
    if any(mode.search(line) for line in added) and not any(mode.search(line) for line in removed):
        found.append("mode-added")
    return tuple(found)


def _examine(repository: Repository, commit: str, parent: str, message: str) -> MinedFix | None:
    files = repository.changed_asm_files(parent, commit)
    if not files or len(files) > MAX_FILES:
        return None
    regions: list[Region] = []
    changed = 0
    for path in files:
        old, new = repository.file_at(parent, path), repository.file_at(commit, path)
        if old is None or new is None:
            continue
        file_regions, file_changed = changed_regions(path, old, new)
        regions.extend(file_regions)
        changed += file_changed
    if not 0 < changed <= MAX_CHANGED_LINES:
        return None
    return MinedFix(commit, message.splitlines()[0], message, tuple(regions), changed, _signals(regions))


def mine_repository(path: Path, revision: str = "HEAD") -> MineResult:
    """Every bug-fix commit reachable from ``revision`` (oldest first), by the rules above."""
    repository = Repository(path)
    commits = repository.commits(revision)
    fixes = []
    for commit, parent, message in tqdm(commits, desc="mine", unit="commit", disable=None, leave=False):
        if parent is None or not is_fix_message(message):
            continue
        fix = _examine(repository, commit, parent, message)
        if fix is not None:
            fixes.append(fix)
    return MineResult(len(commits), tuple(fixes))


def _signal_hint(fix: MinedFix) -> str:
    names = [s for s in fix.signals if s != "mode-added"]
    guess = fix.category or "none (no telling signal)"
    return f"Signals in the diff: {', '.join(names) or 'none'}; guessed category: {guess}."


def draft_record(fix: MinedFix) -> dict:
    """The dialogue line of one fix: the user's code and symptom, the fix, the diagnosis to write."""
    snippets = "\n\n".join(
        f"`{region.path}` (from line {region.first_line}):\n\n```asm\n{region.before}\n```" for region in fix.regions
    )
    user = f"{fix.message}\n\nFind the bug in this code:\n\n{snippets}"
    diffs = "\n".join(region.diff for region in fix.regions)
    assistant = (
        f"{REVIEW_MARKER} Mined from commit {fix.commit[:12]} (\"{fix.subject}\"). Write the diagnosis here: "
        "the **Bug: <type>** header, the explanation of the mechanism, and a **What's happening:** "
        f"section with numbered steps. {_signal_hint(fix)}\n\n"
        f"**Fix:**\nThe commit's change:\n```diff\n{diffs}\n```"
    )
    dialogue = Dialogue(
        path="",
        line=0,
        messages=(Message("user", user), Message("assistant", assistant)),
        id=f"mined-{fix.commit[:12]}",
        category=fix.category,
        source="mined",
        commit=fix.commit,
    )
    return dialogue_record(dialogue)


def draft_records(result: MineResult) -> Iterator[dict]:
    return (draft_record(fix) for fix in result.fixes)
