"""The comparison chart (grouped bars, intervals) and the HTML report that embeds it."""

import base64
import io
import re
import sys

import pytest
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.image import imread

from farore.charts import ChartError, draw, render_html, render_png, write_charts
from farore.compare import Cell, Comparison, Difference, Row, Run, sections


def _run(label: str, samples: int = 1) -> Run:
    return Run(label, f"{label}/report.json", "embedded", label, "whole-term", samples, False, 0.4, 0, 0, {"diagnosis_first": 0.5})


def _comparison(with_intervals: bool) -> Comparison:
    interval = (0.3, 0.5) if with_intervals else None
    same = Difference(0.0, (0.0, 0.0), 2, "within noise")
    rows = (
        Row("mode_mismatch", (Cell(0.2, 0, 2), Cell(0.4, 1, 2, interval)), (None, same)),
        Row("dma_errors", (Cell(0.5, 1, 2), Cell(None)), (None, None)),
        Row("overall", (Cell(0.35, 1, 4), Cell(0.4, 1, 2)), (None, same)),
    )
    return Comparison((_run("none"), _run("enhanced <b>", samples=3 if with_intervals else 1)), rows, ())


def _bars(figure):
    return [c for c in figure.axes[0].containers if isinstance(c, BarContainer)]


def test_bars_are_grouped_per_category_with_each_runs_scores():
    figure = draw(_comparison(with_intervals=False))
    bars = _bars(figure)
    assert [b.get_label() for b in bars] == ["none", "enhanced <b>"]
    assert [patch.get_height() for patch in bars[0]] == pytest.approx([20, 50, 35])
    assert [patch.get_height() for patch in bars[1]] == pytest.approx([40, 0, 40])  # a missing category draws empty
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["mode\nmismatch", "dma\nerrors", "overall"]
    assert not [c for c in figure.axes[0].containers if isinstance(c, ErrorbarContainer)]


def test_intervals_become_error_bars():
    figure = draw(_comparison(with_intervals=True))
    errorbars = [c for c in figure.axes[0].containers if isinstance(c, ErrorbarContainer)]
    assert len(errorbars) == 1  # the run with repeats
    first_segment = errorbars[0].lines[2][0].get_segments()[0]
    assert [point[1] for point in first_segment] == pytest.approx([30, 50])


def test_png_is_a_real_picture():
    png = render_png(_comparison(with_intervals=True))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    height, width, _ = imread(io.BytesIO(png)).shape
    assert width > height > 300


def test_html_embeds_the_picture_and_every_section_escaped():
    comparison = _comparison(with_intervals=False)
    png = render_png(comparison)
    page = render_html(comparison, png, {"enhanced <b>": ["overall dropped"]})
    embedded = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(embedded) == png
    for section in sections(comparison, {"enhanced <b>": ["overall dropped"]}):
        assert section.title.replace("<", "&lt;").replace(">", "&gt;") in page
    assert "<b>" not in page.replace("<body>", "")
    assert "enhanced &lt;b&gt;: REGRESSION: overall dropped" in page


def test_write_charts_leaves_two_files_and_no_temporaries(tmp_path):
    png_path, html_path = write_charts(_comparison(with_intervals=True), tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["comparison.html", "comparison.png"]
    assert png_path.read_bytes().startswith(b"\x89PNG")
    assert base64.b64encode(png_path.read_bytes()).decode() in html_path.read_text()


def test_missing_matplotlib_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ChartError, match=r'charts need matplotlib: pip install -e "\.\[charts\]"'):
        draw(_comparison(with_intervals=False))
