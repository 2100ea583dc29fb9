"""The tables are built once and rendered twice: the HTML report and the LaTeX paper must show the
same cells. Inputs are the archive fixture's generations, scored and aggregated by the real
pipeline functions, so the frames hold real values (including a significant CoT gain)."""

import re
from html.parser import HTMLParser

import pandas as pd
import pytest
from archive_fixture import REPO, write_archive

from cotrepro import methods
from cotrepro.io import read_json, read_jsonl, run_key, write_json
from cotrepro.outputs import paper, tables
from cotrepro.outputs.latex import ascii_text, tex
from cotrepro.outputs.loader import RunOutputs
from cotrepro.outputs.report import render_report
from cotrepro.scoring.aggregate import accuracy_table
from cotrepro.scoring.score import score_rows
from cotrepro.scoring.significance import significance_table

# Characters pdfLaTeX needs escaped, in a value that reaches a table cell (a stop sequence).
AWKWARD_STOP = "50% & $x_1^{#}~\\"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tables")
    write_archive(root)
    records = read_jsonl(root / "results/tasks/coin_flip.jsonl")
    metas = sorted((root / "results/generations").rglob("*.meta.json"))
    scores, parts = {}, []
    for path in metas:
        model, task, method = run_key(path)
        meta = read_json(path)
        meta["backend"]["decoding"]["stop"] = ["\n\nQ:", AWKWARD_STOP]
        write_json(path, meta)
        scores[model, task, method] = score_rows(read_jsonl(path.with_name(f"{method}.jsonl")), records, method)
        parts.append(({"model": model, "task": task, "method": method}, scores[model, task, method], meta))
    acc, sig = accuracy_table(parts), significance_table(scores)
    acc.to_csv(root / "accuracy.csv", index=False)
    sig.to_csv(root / "significance.csv", index=False)
    # One loader for both documents, as in the workflow.
    inp = RunOutputs.from_paths(
        accuracy=root / "accuracy.csv",
        published=REPO / "config/published.csv",
        metas=metas,
        significance=root / "significance.csv",
        manifests=sorted((root / "resources/models").glob("*.json")),
        tasks=[root / "results/tasks/coin_flip.provenance.json"],
    )
    html = render_report(inp)
    return {
        "acc": acc,
        "sig": sig,
        "inp": inp,
        "html": html_tables(html),
        "latex": {name: latex_tables(writer(inp)) for name, writer in paper.FRAGMENTS.items()},
    }


# --- reading the two renderings back -----------------------------------------------------------


class _HtmlTables(HTMLParser):
    """Cell texts (entities decoded) of every <table id=...>, header row first."""

    def __init__(self):
        super().__init__()
        self.tables, self._table, self._row, self._cell = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs)["id"], [])
        elif tag == "tr":
            self._row = []
        elif tag in ("th", "td"):
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("th", "td"):
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr":
            self._table.append(self._row)


def html_tables(text: str) -> dict[str, list[list[str]]]:
    parser = _HtmlTables()
    parser.feed(text)
    return parser.tables


_LATEX_CHARS = {r"\textbackslash{}": "\\", r"\textasciicircum{}": "^", r"\textasciitilde{}": "~"}


def latex_text(cell: str) -> str:
    """What a cell typesets as: escapes undone, markup (commands and their braces) dropped."""

    def token(m):
        t = m.group(0)
        if t in _LATEX_CHARS:
            return _LATEX_CHARS[t]
        return t[1] if re.fullmatch(r"\\[{}$&#_%]", t) else ""

    return re.sub(r"\\text(?:backslash|asciicircum|asciitilde)\{\}|\\[{}$&#_%]|\\[a-zA-Z]+ ?|[{}]", token, cell).strip()


def _cells(line: str) -> list[str]:
    return [latex_text(c) for c in re.split(r"(?<!\\)&", line)]


def latex_tables(fragment: str) -> dict[str, list[list[str]]]:
    """Header and body rows of each tabular or longtable in a fragment, by its \\label (or "")."""
    out, start = {}, 0
    for m in re.finditer(r"\\begin\{(tabular|longtable)\}[^\n]*\n(.*?)\\end\{\1\}", fragment, re.S):
        label = re.findall(r"\\label\{(.*?)\}", fragment[start : m.end()])
        start = m.end()
        body = m.group(2)
        header = body.split("\\toprule\n", 1)[1].split(" \\\\\n", 1)[0]
        data = (
            body.split("\\endlastfoot\n", 1)[1]
            if "\\endlastfoot" in body
            else body.split("\\midrule\n", 1)[1].split("\\bottomrule", 1)[0]
        )
        out[label[-1] if label else ""] = [_cells(header)] + [_cells(r) for r in data.split(" \\\\\n") if r.strip()]
    return out


def assert_same_cells(html_rows: list[dict], latex: list[list[str]], expected_header: list[str]):
    """The paper's header is the frame's columns less its declared hidden ones, and each of its cells
    equals the report's cell in the same row and column (folded to ASCII as the paper folds it)."""
    header, *rows = latex
    assert header == expected_header
    assert len(rows) == len(html_rows) > 0
    for i, (row, html) in enumerate(zip(rows, html_rows, strict=True)):
        for column, cell in zip(header, row, strict=True):
            assert cell == ascii_text(html[column]).strip(), (i, column)


def records(table: list[list[str]], expected_header: list[str], **extra) -> list[dict]:
    header, *rows = table
    assert header == expected_header
    return [{**extra, **dict(zip(header, row, strict=True))} for row in rows]


# --- the tests ---------------------------------------------------------------------------------


def test_unescaping_inverts_tex():
    text = "50% of $3 & #1_a {x} ~y^ back\\slash Janet’s"
    assert latex_text(tex(text)) == ascii_text(text)


def test_accuracy_matrix_cells_agree(inputs):
    frame = tables.accuracy_matrix(inputs["acc"], inputs["sig"], "robust")
    report_columns = [c for c in frame.columns if c != "task"]  # the report's heading names the task
    html = [
        r
        for task in frame["task"].unique()
        for r in records(inputs["html"][f"accuracy-{task}-robust"], report_columns, task=task)
    ]
    assert_same_cells(
        html,
        inputs["latex"]["all.tex"]["tab:all"],
        [c for c in frame.columns if c not in paper.HIDDEN["accuracy_matrix"]],
    )
    large = next(r for r in html if r["model"] == "model-large")
    assert large["few-shot CoT"] == "90.0 [59.6, 98.2]" + tables.SIGNIFICANT  # 9 of 10 vs 3 of 10


def test_comparison_cells_agree(inputs):
    inp = inputs["inp"]
    pairs = tables.comparison_pairs(inp.accuracy, inp.published)
    assert pairs == [("zero_shot", "zero_shot_cot"), ("few_shot", "few_shot_cot")]
    latex = inputs["latex"]["published.tex"]
    for pair in pairs:
        frame = tables.comparison(inp.accuracy, inp.significance, inp.published, pair)
        html = records(inputs["html"][f"published-{pair[1]}"], list(frame.columns))
        assert_same_cells(
            html, latex[paper.comparison_label(pair)], [c for c in frame.columns if c not in paper.HIDDEN["comparison"]]
        )
        assert {r["source"] for r in html} > {tables.THIS_RUN}  # the papers' rows are there too


@pytest.mark.parametrize(
    "fragment,label,html_id,build,hidden",
    [
        ("failures.tex", "tab:failures", "failures", lambda i: tables.failures(i["acc"]), ()),
        ("styles.tex", "tab:styles", "styles", lambda i: tables.extraction_styles(i["acc"]), ()),
        (
            "models.tex",
            "tab:models",
            "models",
            lambda i: tables.models(i["inp"].metas, i["inp"].manifests),
            paper.HIDDEN["models"],
        ),
        ("tasks.tex", "tab:tasks", "datasets", lambda i: tables.tasks(i["inp"].tasks, i["acc"]), paper.HIDDEN["tasks"]),
        ("decoding.tex", "tab:decoding", "decoding", lambda i: tables.decoding(i["inp"].metas), ()),
    ],
)
def test_table_cells_agree(inputs, fragment, label, html_id, build, hidden):
    frame = build(inputs)
    html = records(inputs["html"][html_id], list(frame.columns))
    assert_same_cells(html, inputs["latex"][fragment][label], [c for c in frame.columns if c not in hidden])


def test_awkward_text_survives_both_renderings(inputs):
    rows = records(inputs["html"]["decoding"], ["method", "decoding", "max new tokens", "stop", "on overflow"])
    assert {r["stop"] for r in rows} == {'["\\n\\nQ:", "50% & $x_1^{#}~\\\\"]'}  # JSON, as both documents show it


def test_report_only_tables_come_from_the_same_module(inputs):
    tests = tables.paired_tests(inputs["sig"])
    html = records(inputs["html"]["paired-tests"], list(tests.columns))
    assert html == tests.astype(str).to_dict("records")
    row = next(r for r in html if r["model"] == "model-large" and r["comparison"] == "few-shot vs few-shot CoT")
    assert (row["right only with A"], row["right only with B"], row["significant (p < 0.05)"]) == ("0", "6", "yes")


def test_significance_mark_follows_style_and_cot_baseline():
    rows = [
        {
            "model": "m",
            "parameters": 1e9,
            "task": "t",
            "method": meth,
            "style": style,
            "accuracy": 50.0,
            "ci_low": 40.0,
            "ci_high": 60.0,
        }
        for meth in methods.all_keys()
        for style in ("robust", "kojima")
    ]
    sig = pd.DataFrame(
        [
            {
                "model": "m",
                "task": "t",
                "style": "robust",
                "method_a": "few_shot",
                "method_b": "few_shot_cot",
                "p_value": 0.01,
                "significant": True,
            },
            {
                "model": "m",
                "task": "t",
                "style": "kojima",
                "method_a": "few_shot",
                "method_b": "few_shot_cot",
                "p_value": 0.2,
                "significant": False,
            },
            # Few-shot against zero-shot is a pair too, but not a CoT baseline: it marks nothing.
            {
                "model": "m",
                "task": "t",
                "style": "robust",
                "method_a": "zero_shot",
                "method_b": "few_shot",
                "p_value": 0.01,
                "significant": True,
            },
        ]
    )
    robust = tables.accuracy_matrix(pd.DataFrame(rows), sig, "robust").iloc[0]
    kojima = tables.accuracy_matrix(pd.DataFrame(rows), sig, "kojima").iloc[0]
    assert robust["few-shot CoT"] == "50.0 [40.0, 60.0]*" and kojima["few-shot CoT"] == "50.0 [40.0, 60.0]"
    assert robust["few-shot"] == robust["zero-shot"] == robust["zero-shot CoT"] == "50.0 [40.0, 60.0]"


def test_generation_time_counts_reused_rows_with_the_time_they_took():
    reused = {"stats": {"wall_seconds": 0.01, "row_seconds": 40.0}}  # a unit a rerun took whole from its file
    made = {"stats": {"wall_seconds": 12.5, "row_seconds": 12.0}}
    older = {"stats": {"wall_seconds": 7.0}}  # metadata from before row_seconds
    assert tables.generation_seconds([reused, made, older]) == 40.0 + 12.0 + 7.0


def test_decoding_has_a_row_per_method_greedy_and_sampled():
    """Self-consistency's sampled settings are shown on its own row (the first job's settings, greedy,
    used to stand for the whole run); a variant with its method's settings shares its row."""

    def meta(method, task, sampling=None, stop=("Q:",)):
        decoding = {"do_sample": False, "num_beams": 1, "stop": list(stop), "strategy": "greedy"}
        return {"method": method, "backend": {"decoding": decoding}, "sampling": sampling,
                "max_new_tokens": {"answer": 12, "reasoning": 32}, "on_overflow": "generate"}  # fmt: skip

    sampled = {"paths": 40, "seed": 0, "temperature": 0.7, "top_k": 40, "top_p": None}
    frame = tables.decoding(
        [
            meta("zero_shot", "a"),
            meta("zero_shot", "b", stop=("Q:", "\n\n")),
            meta("few_shot_cot_sc", "a", sampling=sampled),
            meta("few_shot_cot", "a"),
            meta("few_shot_cot@reversed", "a"),
        ]
    )
    assert frame.to_dict("records") == [
        {"method": "zero-shot", "decoding": "greedy", "max new tokens": "answer 12, reasoning 32",
         "stop": '["Q:"] / ["Q:", "\\n\\n"]', "on overflow": "generate"},
        {"method": "few-shot CoT", "decoding": "greedy", "max new tokens": "answer 12, reasoning 32",
         "stop": '["Q:"]', "on overflow": "generate"},
        {"method": "few-shot CoT + self-consistency",
         "decoding": "sampled, 40 paths: seed 0, temperature 0.7, top_k 40",
         "max new tokens": "answer 12, reasoning 32", "stop": '["Q:"]', "on overflow": "generate"},
    ]  # fmt: skip
