"""Snapshots of report.md and the terminal summary for a fixed scripted run."""

import json

from conftest import FULL


def test_report_and_terminal_summary_match_snapshots(suite, pytester, snapshot):
    answers = {f"{c}-1": text for c, text in FULL.items()}
    answers["dma_errors-2"] = "**Bug: DMA** I'm not sure about the count."
    answers["mode_mismatch-2"] = "```asm\nSEP #$20\n```\nThe mode is 8-bit."
    result = suite(answers)
    output = result.stdout.str()
    summary = output[output.index("farore: model=") : output.index("report: ")]
    assert summary == snapshot(name="terminal-summary")
    assert (pytester.path / "out" / "report.md").read_text() == snapshot(name="report-md")
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    assert [c["case_id"] for c in report["cases"]][:2] == ["dma_errors-1", "dma_errors-2"]
