"""The report and the paper of a run of full size (support/full_size_fixture.py: 6 models, 13
tasks, 6 methods, self-consistency at 40 paths), built by the real code: every figure drawn, the
fragments written, the PDF built by latexmk, and its log read for overfull boxes."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from browser import CHROMIUM, render, report_problems
from full_size_fixture import full_size_outputs
from latex_checks import overfull_boxes, page_of, pdf_pages

from cotrepro.outputs import FIGURE_NAMES, paper
from cotrepro.outputs.latex import build_pdf
from cotrepro.outputs.plots import draw_figures
from cotrepro.outputs.report import render_report

REPO = Path(__file__).resolve().parents[2]
needs_tex = pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("pdftotext") is None,
    reason="latexmk and poppler-utils are not installed (make setup-tex installs them)",
)
FIGURES = [f"{n}.{e}" for n in FIGURE_NAMES for e in ("png", "pdf")]


@pytest.fixture(scope="module")
def full_size(tmp_path_factory):
    """The full-size run's figures, report and paper, built once (with the paper's build time)."""
    root = tmp_path_factory.mktemp("full_size")
    inp = full_size_outputs()
    figures = root / "figures"
    draw_figures(
        inp.accuracy, [figures / f for f in FIGURES], published=inp.published, paths=inp.paths, selection=inp.selection
    )
    inp.figures = sorted(figures.glob("*.png"))
    (root / "report.html").write_text(render_report(inp))
    paper.write_fragments(inp, root / "fragments")
    out = {"root": root, "inp": inp}
    if shutil.which("latexmk"):
        t0 = time.perf_counter()
        build_pdf(REPO / "paper/main.tex", search_dirs=[root / "fragments", figures], out_pdf=root / "paper.pdf",
                  build_dir=root / "build")  # fmt: skip
        out["seconds"] = time.perf_counter() - t0
        print(f"full-size paper: built in {out['seconds']:.1f} s")
    return out


def test_full_size_report_shows_every_figure_and_table(full_size):
    html = (full_size["root"] / "report.html").read_text()
    for name in FIGURE_NAMES:
        assert f'<img alt="{name}" src="data:image/png;base64,' in html, name
    assert html.count("<table") >= 10


@needs_tex
def test_full_size_paper_has_no_overfull_box_and_every_figure_and_table(full_size):
    root = full_size["root"]
    assert overfull_boxes(root / "build/main.log") == []
    pages = pdf_pages(root / "paper.pdf")
    where = {
        label: page_of(pages, text)
        for label, text in {
            "Table (accuracy)": "Accuracy (%, robust extraction) with 95% Wilson intervals",
            "Figure 1 (methods)": "of each method per model and task",
            "Figure 2 (scaling)": "against parameter count, one colour per method",
            "Figure 3 (compute)": "Test-time compute: accuracy against mean generated tokens per question; a",
            "Figure (failures)": "Failure fractions per model and method",
            "Figure (paths)": "Self-consistency: accuracy (robust extraction) against the number of sampled",
            "Table (decoding)": "Decoding per method",
            "Table (compute)": "Test-time compute: accuracy (%, robust extraction, 95% interval)",
            "Table (strategies)": "Choosers on the same sampled paths: accuracy",
            "Table (Wang et al.'s Table 1)": "Table 1 (PaLM 540B, 40 paths) beside ours",
            "Figure (strategies)": "Choosers against the number of sampled paths",
            "Figure (flops)": "The compute-matched comparison: accuracy (robust extraction) against FLOPs",
        }.items()
    }
    print(f"full-size paper: {len(pages)} pages; " + ", ".join(f"{k} p. {v}" for k, v in where.items()))
    assert all(where.values()), where
    # The results come right after a setup of about a page.
    assert where["Table (accuracy)"] <= 3


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package chromium; make setup-browser)")
def test_full_size_report_in_chromium(full_size):
    """Headless Chromium at 1280 px: no console error, every figure decoded, every table within the window."""
    facts = render(full_size["root"] / "report.html", width=1280)
    assert report_problems(facts, FIGURE_NAMES) == []
