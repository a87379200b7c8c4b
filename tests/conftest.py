from pathlib import Path

import pytest
import yaml

GOOD_ANSWER = (
    "**Bug: 16-bit/8-bit mode mismatch**\n"
    "REP #$20 leaves the accumulator 16-bit, so the store has the wrong size, which is why the sprite jumps.\n"
    "**What's happening:**\n1. REP sets 16-bit mode.\n2. The 8-bit store writes two bytes.\n"
    "**Fix:** add SEP #$20 before the store."
)


@pytest.fixture
def write_cases(tmp_path: Path):
    """Write a case YAML file and return its path."""

    def write(text: str, name: str = "cases.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


CATEGORIES = {
    "mode_mismatch": ["16-bit", "8-bit", "mode", "REP/SEP", "size"],
    "stack_corruption": ["stack", "PHA/PLA", "balance", "imbalance"],
    "register_clobbering": ["preserve", "clobber", "PHY/PLY", "caller-save"],
    "dma_errors": ["$4305", "$4306", "length", "count"],
    "missing_mode_switch": ["SEP", "8-bit", "16-bit", "accumulator"],
}
FULL = {
    "mode_mismatch": "**Bug: mode mismatch** REP leaves A 16-bit, the 8-bit size is wrong.",
    "stack_corruption": "**Bug: stack imbalance** the PHA is never balanced by a PLA.",
    "register_clobbering": "**Bug: clobber** the callee must preserve Y with PHY/PLY; Y is caller-save here.",
    "dma_errors": "**Bug: DMA count** the length in $4305/$4306 is the byte count.",
    "missing_mode_switch": "**Bug: missing SEP** the accumulator stays 16-bit for an 8-bit write.",
}


@pytest.fixture
def isolated_farore_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh $FARORE_HOME (so a fresh response cache) whatever the environment sets."""
    home = tmp_path / "farore-home"
    monkeypatch.setenv("FARORE_HOME", str(home))
    return home


def write_benchmark(pytester: pytest.Pytester) -> None:
    """A benchmark directory as a user has it: the test module and two cases per category."""
    pytester.makepyfile(test_benchmark="from farore.suite import test_case  # noqa: F401")
    cases_dir = pytester.mkdir("cases")
    for category, concepts in CATEGORIES.items():
        cases = [{"id": f"{category}-{n}", "prompt": f"[{category}-{n}] find the bug"} for n in (1, 2)]
        document = {"category": category, "concepts": concepts, "cases": cases}
        (cases_dir / f"{category}.yaml").write_text(yaml.safe_dump(document))


@pytest.fixture
def suite(pytester: pytest.Pytester, isolated_farore_home: Path):
    """A benchmark directory with two cases per category and a script answering them (cold cache)."""
    write_benchmark(pytester)

    def run(answers: dict[str, str], *extra: str):
        rules = [{"match": f"[{case_id}]", "text": text} for case_id, text in answers.items()]
        pytester.path.joinpath("script.yaml").write_text(yaml.safe_dump({"default": "", "rules": rules}))
        return pytester.runpytest("--model", "scripted:script.yaml", "--cases", "cases", "--report-dir", "out", *extra)

    return run
