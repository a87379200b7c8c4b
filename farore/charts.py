"""Pictures of a comparison: per-category grouped bars as PNG, and an HTML report embedding it.

matplotlib (the ``charts`` extra) is imported only here and only when a chart is drawn; the
Figure API is used directly (no pyplot), so drawing touches no global state or display.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from farore.compare import Comparison, sections
from farore.gate import MINIMUM
from farore.report import atomic_write_bytes, atomic_write_text

INSTALL_CHARTS = 'pip install -e ".[charts]"'
_STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f3f3f3}"
)


class ChartError(RuntimeError):
    pass


def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ChartError(f"charts need matplotlib: {INSTALL_CHARTS}") from None
    return Figure


def draw(comparison: Comparison):
    """Grouped bars: one group per category (and overall), one bar per run, error bars where the
    run has a 95% interval, and the gate's thresholds as dashed lines. Returns the Figure."""
    figure_class = _figure_class()
    categories = [row.category for row in comparison.rows]
    runs = comparison.runs
    width = 0.8 / len(runs)
    figure = figure_class(figsize=(max(7.0, 2 + len(categories) * (0.6 + 0.35 * len(runs))), 4.8), dpi=120)
    axes = figure.add_subplot()
    for index, run in enumerate(runs):
        cells = [row.cells[index] for row in comparison.rows]
        positions = [x + (index - (len(runs) - 1) / 2) * width for x in range(len(categories))]
        heights = [100 * (cell.score or 0.0) for cell in cells]
        errors = [
            (100 * (cell.score - cell.interval[0]), 100 * (cell.interval[1] - cell.score)) if cell.interval and cell.score is not None else (0.0, 0.0)
            for cell in cells
        ]
        bars = axes.bar(
            positions,
            heights,
            width,
            label=run.label,
            yerr=list(zip(*errors)) if any(cell.interval for cell in cells) else None,
            capsize=3,
        )
        axes.bar_label(bars, labels=["-" if cell.score is None else f"{round(100 * cell.score, 1):g}" for cell in cells], fontsize=7, padding=2)
    axes.axhline(100 * MINIMUM.category_threshold, color="grey", linestyle="--", linewidth=1)
    axes.text(-0.45, 100 * MINIMUM.category_threshold + 1, f"category gate {MINIMUM.category_threshold:.0%}", fontsize=7, color="grey")
    overall = len(categories) - 1
    axes.hlines(100 * MINIMUM.overall_threshold, overall - 0.45, overall + 0.45, colors="black", linestyles=":", linewidth=1.2)
    axes.text(overall - 0.45, 100 * MINIMUM.overall_threshold + 1, f"overall gate {MINIMUM.overall_threshold:.0%}", fontsize=7)
    axes.set_xticks(range(len(categories)), [c.replace("_", "\n") for c in categories], fontsize=8)
    axes.set_ylim(0, 105)
    axes.set_ylabel("score (%)")
    axes.set_title(f"farore: per-category scores against {comparison.reference.label}", fontsize=10)
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure


def render_png(comparison: Comparison) -> bytes:
    figure = draw(comparison)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def render_html(comparison: Comparison, png: bytes, regressions: dict[str, list[str]] | None = None) -> str:
    """A self-contained page: the chart embedded as base64, then every section of the comparison."""
    parts = [
        "<!doctype html>",
        '<html><head><meta charset="utf-8"><title>farore comparison</title>',
        f"<style>{_STYLE}</style>",
        "</head><body>",
        "<h1>farore comparison</h1>",
        f'<img alt="per-category scores" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">',
    ]
    for section in sections(comparison, regressions):
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.header:
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in section.header) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in section.rows]
            parts.append("</table>")
        if section.notes:
            parts.append("<ul>" + "".join(f"<li>{html.escape(note)}</li>" for note in section.notes) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_charts(comparison: Comparison, directory: Path, regressions: dict[str, list[str]] | None = None) -> tuple[Path, Path]:
    """Write comparison.png and comparison.html (which embeds the same picture) atomically."""
    png = render_png(comparison)
    png_path, html_path = directory / "comparison.png", directory / "comparison.html"
    atomic_write_bytes(png_path, png)
    atomic_write_text(html_path, render_html(comparison, png, regressions))
    return png_path, html_path
