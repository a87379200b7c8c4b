"""`farore data mine`: a real git repository built from scratch, one real bug fix among other commits."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from farore.cli import main
from farore.dataset.format import check_reply
from farore.dataset.mine import MAX_CHANGED_LINES, REVIEW_MARKER, MineError, draft_record, mine_repository
from farore.dataset.schema import load_dataset

BAT_BUGGY = """\
; Bat enemy
    org $1E8000

Sprite_Bat_Main:
    LDA $0D00,x        ; Y position
    PHA
    LDA $0F20,x        ; off-screen flag
    BNE .offscreen
    PLA
    CLC
    ADC #$02           ; drift down
    STA $0D00,x
    RTS
.offscreen
    STZ $0DD0,x        ; despawn
    RTS

Sprite_Bat_Draw:
    LDA #$40
    STA $0F50,x
    RTS
"""
#: The routine the fix changes, lines 4-16 of the file as it was before the fix (after the feature commit).
BAT_FIXED_REGION_BEFORE = "\n".join(BAT_BUGGY.replace("#$02", "#$03").splitlines()[3:16])
BAT_FIXED_REGION_AFTER = BAT_FIXED_REGION_BEFORE.replace(
    "\n.offscreen\n", "\n.offscreen\n    PLA                ; drop the saved Y position\n"
)


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _commit(repo: Path, message: str, files: dict[str, str]) -> str:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        _git(repo, "add", name)
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def _tree_digest(repo: Path) -> dict[str, str]:
    """Every file of the repository, .git included, by content: what 'never altered' is checked on."""
    return {
        str(path.relative_to(repo)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(repo.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def rom_hack(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A ROM hack's history: features, a real fix, and commits that only look like fixes."""
    repo = tmp_path / "hack"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.name", "Test")
    _git(repo, "config", "user.email", "test@example.invalid")
    hud = "HUD_Update:\n" + "".join(f"    LDA $7EC7{i:02X}\n    STA $0F{i:02X}\n" for i in range(8)) + "    RTS\n"
    commits = {
        "initial": _commit(repo, "Add the bat enemy and the HUD", {"src/sprite_bat.asm": BAT_BUGGY, "src/hud.asm": hud, "README.md": "hack\n"}),
        "feature": _commit(repo, "Make the bat drift faster", {"src/sprite_bat.asm": BAT_BUGGY.replace("#$02", "#$03")}),
        "fix": _commit(
            repo,
            "Fix crash when the bat flies off screen\n\nThe off-screen path returned with the Y position still pushed.",
            {
                "src/sprite_bat.asm": BAT_BUGGY.replace("#$02", "#$03").replace(
                    "\n.offscreen\n", "\n.offscreen\n    PLA                ; drop the saved Y position\n"
                )
            },
        ),
        "comment": _commit(
            repo,
            "Fix the wrong drift note",
            {"src/sprite_bat.asm": (repo / "src/sprite_bat.asm").read_text().replace("; drift down", "; fall")},
        ),
        "readme": _commit(repo, "Fix broken link in the readme", {"README.md": "hack, fixed\n"}),
        "rewrite": _commit(
            repo,
            "Rewrite the HUD update (fixes the flicker)",
            {"src/hud.asm": "HUD_Update:\n" + "".join(f"    LDA.l $7EC8{i:02X}\n    STA.w $0E{i:02X}\n" for i in range(32)) + "    RTL\n"},
        ),
        "new-file": _commit(repo, "Fix the missing palette bug", {"src/palette.asm": "Palette_Load:\n    SEP #$20\n    RTS\n"}),
    }
    return repo, commits


def test_mine_finds_exactly_the_bug_fix_with_its_code_before_and_after(rom_hack):
    repo, commits = rom_hack
    before = _tree_digest(repo)

    result = mine_repository(repo)

    assert result.commits == len(commits) - 1  # the readme-only commit touches no assembly file
    assert [fix.commit for fix in result.fixes] == [commits["fix"]]
    fix = result.fixes[0]
    assert fix.subject == "Fix crash when the bat flies off screen"
    assert len(fix.regions) == 1
    region = fix.regions[0]
    assert region.path == "src/sprite_bat.asm"
    assert region.first_line == 4
    assert region.before == BAT_FIXED_REGION_BEFORE
    assert region.after == BAT_FIXED_REGION_AFTER
    assert "+    PLA                ; drop the saved Y position" in region.diff.splitlines()
    assert fix.changed_lines == 1
    assert "stack" in fix.signals
    assert fix.category == "stack_corruption"
    assert _tree_digest(repo) == before
    assert _git(repo, "status", "--porcelain") == ""


def test_a_large_change_is_not_a_fix_however_it_is_described(rom_hack):
    repo, commits = rom_hack
    rewrite = subprocess.run(
        ["git", "-C", str(repo), "show", "--numstat", "--format=", commits["rewrite"]], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(rewrite[0]) + int(rewrite[1]) > MAX_CHANGED_LINES
    assert commits["rewrite"] not in [fix.commit for fix in mine_repository(repo).fixes]


def test_the_draft_holds_symptom_code_and_fix_and_fails_the_format_until_reviewed(rom_hack):
    repo, commits = rom_hack
    record = draft_record(mine_repository(repo).fixes[0])

    assert record["source"] == "mined"
    assert record["commit"] == commits["fix"]
    assert record["id"] == f"mined-{commits['fix'][:12]}"
    assert record["category"] == "stack_corruption"
    user, assistant = (m["content"] for m in record["messages"])
    assert user.startswith("Fix crash when the bat flies off screen\n\nThe off-screen path returned")
    assert f"```asm\n{BAT_FIXED_REGION_BEFORE}\n```" in user
    assert assistant.startswith(REVIEW_MARKER)
    assert "```diff\n--- a/src/sprite_bat.asm" in assistant
    assert "bug-header" in [rule for rule, _ in check_reply(assistant)]


def test_mine_stops_at_the_mining_revision(rom_hack):
    repo, commits = rom_hack
    assert mine_repository(repo, revision=commits["feature"]).fixes == ()


def test_a_directory_that_is_not_a_repository_is_one_clear_error(tmp_path: Path):
    with pytest.raises(MineError, match=rf"^{tmp_path}: git rev-parse failed: .*not a git repository"):
        mine_repository(tmp_path)


def test_an_unknown_revision_is_one_clear_error(rom_hack):
    repo, _ = rom_hack
    with pytest.raises(MineError, match=r"git rev-parse failed"):
        mine_repository(repo, revision="no-such-branch")


def test_mine_command_writes_drafts_that_the_validator_holds_back_until_reviewed(rom_hack, tmp_path: Path, capsys):
    repo, commits = rom_hack
    output = tmp_path / "mined.jsonl"

    assert main(["data", "mine", str(repo), "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("6 commits touch assembly files; 1 look like bug fixes\n")
    assert f"  {commits['fix'][:12]}  Fix crash when the bat flies off screen  (1 code lines, stack; stack_corruption)" in printed
    (draft,) = load_dataset(output).dialogues
    assert (draft.source, draft.commit, draft.category) == ("mined", commits["fix"], "stack_corruption")
    assert main(["data", "validate", str(output)]) == 1
    assert f"{output}:1: bug-header: the reply must open with **Bug: <type>**" in capsys.readouterr().out
    assert main(["data", "mine", str(tmp_path / "nowhere"), "--output", str(tmp_path / "x.jsonl")]) == 2
    assert "no such directory" in capsys.readouterr().err
