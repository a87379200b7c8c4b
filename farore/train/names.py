"""Run names, the seed's convention: ``farore:YYYY-MM-DD-NNNsamples[-tag]``.

The date is the day of the run, NNN the number of training dialogues, the tag optional (lowercase
words joined by hyphens). The name is also a valid Ollama ``model:tag``, so ``farore export`` uses
it as is.

The seed also says when a *major version* changes, and that is a human decision recorded in the
manifest (``MajorBump``), never inferred from the run.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import Enum

PREFIX = "farore:"
FORMAT = "farore:YYYY-MM-DD-NNNsamples[-tag]"
#: Ollama's limit for the part after the colon.
MAX_TAG_PART = 128
_TAG = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
_NAME = re.compile(rf"{PREFIX}(?P<date>\d{{4}}-\d{{2}}-\d{{2}})-(?P<samples>[1-9]\d*)samples(?:-(?P<tag>.+))?")

MAJOR_VERSION_RULE = (
    "Only increment major version if: architecture change (e.g., switch from Qwen to Llama); "
    "task change (e.g., debugging -> code review); major capability shift."
)


class MajorBump(str, Enum):
    """The seed's only reasons for a new major version; None in the manifest means 'no bump'."""

    ARCHITECTURE = "architecture-change"
    TASK = "task-change"
    CAPABILITY = "capability-shift"


class RunNameError(ValueError):
    pass


def check_tag(tag: str) -> str:
    if not _TAG.fullmatch(tag):
        raise RunNameError(
            f"tag {tag!r}: use lowercase letters and digits, words joined by '-' or '.' (e.g. diagnosis-first)"
        )
    return tag


@dataclass(frozen=True)
class RunName:
    date: dt.date
    samples: int
    tag: str | None = None

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise RunNameError(f"a run needs at least one training sample, not {self.samples}")
        if self.tag is not None:
            check_tag(self.tag)
        if len(str(self).removeprefix(PREFIX)) > MAX_TAG_PART:
            raise RunNameError(f"{self}: longer than Ollama's {MAX_TAG_PART} characters after the colon; shorten the tag")

    def __str__(self) -> str:
        tag = f"-{self.tag}" if self.tag else ""
        return f"{PREFIX}{self.date.isoformat()}-{self.samples}samples{tag}"

    @property
    def slug(self) -> str:
        """The name without ``farore:``: a directory name on every file system."""
        return str(self).removeprefix(PREFIX)

    @classmethod
    def parse(cls, text: str) -> RunName:
        match = _NAME.fullmatch(text)
        if match is None:
            raise RunNameError(f"{text!r} is not a run name of the form {FORMAT}")
        try:
            date = dt.date.fromisoformat(match["date"])
        except ValueError:
            raise RunNameError(f"{text!r}: {match['date']} is not a calendar date") from None
        return cls(date, int(match["samples"]), match["tag"])

    @classmethod
    def today(cls, samples: int, tag: str | None = None) -> RunName:
        return cls(dt.date.today(), samples, tag)
