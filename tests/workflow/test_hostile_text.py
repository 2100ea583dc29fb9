"""Untrusted text through the real report and paper build: a task's question, the models'
completions and the example prompts carry text written to escape LaTeX verbatim and HTML; the PDF
and the page show it literally, and an ``\\input`` in the data never pulls a file into the PDF."""

import re
import shutil
import subprocess

import pytest
import yaml
from archive_fixture import config as archive_config
from archive_fixture import write_archive
from workflow_helpers import REPO, run_snakemake

from cotrepro.archive import pack, read_index
from cotrepro.io import read_json, read_jsonl, write_json, write_jsonl
from cotrepro.outputs.latex import MAX_VERBATIM_LINE, verbatim

CANARY = "CANARYFILECONTENTS"  # what the file that data tries to \input holds


def hostile_lines(secret: str) -> list[str]:
    """Lines written to break out: close the verbatim block (on a line of its own, and in the
    one-line form), then \\input a file; HTML and Jinja2 markup; TeX specials; non-ASCII letters."""
    return [
        r"\end{Verbatim}",
        rf"\input{{{secret}}}",
        rf"\end{{Verbatim}}\input{{{secret}}}",
        "</pre><script>alert(1)</script>",
        "{{ 7*7 }} {% raw %}",
        r"50% \ \\ ^^5c #1 $x$ & _ ~",
        "café naïve",
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A run rebuilt from a generation archive whose question, completions and example prompts
    carry the hostile lines."""
    root = tmp_path_factory.mktemp("hostile")
    secret = root / "secret.tex"
    secret.write_text(CANARY + "\n")
    hostile = "\n".join(hostile_lines(str(secret.with_suffix("")))) + "\n"
    made = root / "made"
    index = read_index(write_archive(made))
    tasks = made / "results/tasks/coin_flip.jsonl"
    records = read_jsonl(tasks)
    records[0]["question"] = hostile + records[0]["question"]
    write_jsonl(tasks, records)
    for name in index["files"]:
        path = made / name
        if name.endswith(".meta.json"):
            meta = read_json(path)
            meta["example"]["prompt"] = hostile + meta["example"]["prompt"]
            write_json(path, meta)
        elif name.startswith("results/generations/") and name.endswith("few_shot_cot.jsonl"):
            # Before the reasoning, so the extracted answer (the last one) stays the fixture's.
            write_jsonl(path, [{**r, "completion": hostile + r["completion"]} for r in read_jsonl(path)])
    archive = made / "hostile.tar.gz"
    pack(archive, [made / n for n in index["files"]], made)
    cfg = root / "hostile.yaml"
    cfg.write_text(yaml.safe_dump(archive_config(archive)))
    work = root / "work"
    run = run_snakemake(REPO, work, cfg, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    return {"work": work, "hostile": hostile}


needs_tex = pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("pdftotext") is None,
    reason="latexmk and poppler-utils are not installed (make setup-tex installs them)",
)


@needs_tex
def test_paper_prints_hostile_text_literally_and_inputs_no_file(built):
    pdf = built["work"] / "results/paper/paper.pdf"
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert CANARY not in text
    # fvextra marks where it broke a long line (a hook at the end, an arrow at the start).
    joined = re.sub(r"\s*\u230b\s*\n\s*,\u2192\s*", "", text)
    for line in hostile_lines(""):
        if r"\input" in line:  # checked below, with the real path
            continue
        expected = line.replace("é", "e").replace("ï", "i")  # pdfLaTeX's verbatim is ASCII
        assert expected in joined, line
    secret = re.escape(str(built["work"].parent / "secret"))
    # Each prompt, question and completion shows both \input lines: one on its own, one after \end.
    assert len(re.findall(rf"^\\end\{{Verbatim\}}\\input\{{{secret}\}}$", joined, re.M)) >= 3
    assert len(re.findall(rf"^\\input\{{{secret}\}}$", joined, re.M)) >= 3


def test_report_escapes_hostile_text(built):
    html = (built["work"] / "results/report.html").read_text()
    assert "<script>" not in html and "</pre><script>" not in html
    assert "&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{ 7*7 }} {% raw %}" in html  # data is never rendered as a template
    assert r"\end{Verbatim}\input{" in html


def test_very_long_lines_are_cut_before_tex_reads_them(tmp_path):
    block = verbatim("y" * (3 * MAX_VERBATIM_LINE + 7))
    lines = block.splitlines()
    assert [len(line) for line in lines[2:-1]] == [MAX_VERBATIM_LINE] * 3 + [7]
    # The environment's name comes from the text: a different text gets a different one.
    assert lines[1].startswith(r"\begin{cotvrb") and lines[1] != verbatim("z").splitlines()[1]
