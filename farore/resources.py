"""Where farore finds its shipped fixtures and keeps its cache."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def fixtures_dir() -> Path:
    """The fixtures of a source checkout, or the copy packed into an installed wheel."""
    for candidate in (_PACKAGE.parent / "fixtures", _PACKAGE / "_fixtures"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("farore's fixtures are missing: reinstall farore")


def default_cases_dir() -> Path:
    return fixtures_dir() / "benchmark"


def farore_home() -> Path:
    """Cache root: $FARORE_HOME, default ~/.cache/farore."""
    return Path(os.environ.get("FARORE_HOME") or Path.home() / ".cache" / "farore")
