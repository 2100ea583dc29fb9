"""The choosers' tables (cotrepro.outputs.tables.strategies and strategy_comparison) on the full-size
fixture's outputs, and what the report and the paper make of them: the same cells in both, Wang et
al.'s Table 1 beside ours, and a verifier's name (config text) escaped in each."""

from __future__ import annotations

from html import unescape

import pytest
from full_size_fixture import full_size_outputs

from cotrepro import methods
from cotrepro.outputs import paper, tables
from cotrepro.outputs.latex import tex
from cotrepro.outputs.report import render_report

HOSTILE = "prm_&$<b>#1"
"""A verifier's name with characters HTML and LaTeX must escape."""


@pytest.fixture(scope="module")
def run():
    inp = full_size_outputs()
    sel = inp.selection
    inp.selection = sel.assign(verifier=sel["verifier"].replace("prm", HOSTILE))
    return inp


def test_each_unit_has_greedy_then_every_strategy_on_all_paths_then_coverage(run):
    table = tables.strategies(run.accuracy, run.selection)
    sel = run.selection[run.selection["style"] == "robust"]
    units = sel.drop_duplicates(["model", "task", "method"])
    assert len(table) == len(units) * (1 + sel["strategy"].nunique())
    unit = units.iloc[0]
    block = table[
        (table["task"] == unit["task"])
        & (table["model"] == unit["model"])
        & (table["method"] == methods.label(unit["method"]))
    ]
    assert block["strategy"].iloc[0] == "greedy" and block["strategy"].iloc[-1] == "coverage (pass@k)"
    greedy = run.accuracy[
        (run.accuracy["style"] == "robust")
        & (run.accuracy["model"] == unit["model"])
        & (run.accuracy["task"] == unit["task"])
        & (run.accuracy["method"] == methods.get(unit["method"]).greedy_counterpart)
    ].iloc[0]
    assert block["accuracy"].iloc[0] == tables.with_ci(greedy)
    mine = sel[(sel["model"] == unit["model"]) & (sel["task"] == unit["task"]) & (sel["method"] == unit["method"])]
    top = mine[mine["paths"] == mine["paths"].max()]
    majority = top[top["strategy"] == "majority"].iloc[0]
    row = block[block["strategy"] == "majority vote"].iloc[0]
    assert row["accuracy"] == tables.with_ci(majority) and row["paths"] == f"{mine['paths'].max():.0f}"
    assert f"best-of-N ({HOSTILE})" in set(block["strategy"])


def test_wang_et_al_table_1_sits_beside_our_units_of_the_same_task(run):
    table = tables.strategy_comparison(run.accuracy, run.selection, run.published)
    gsm8k = table[table["task"] == "gsm8k"]
    theirs = gsm8k[gsm8k["source"] == "Wang2022 Table 1, 40 paths"].iloc[0]
    assert (theirs["greedy"], theirs["w. avg, norm."], theirs["majority"]) == ("56.5", "22.1", "74.4")
    assert theirs["model"] == "PaLM 540B" and theirs["method"] == "few-shot CoT + SC"
    ours = gsm8k[gsm8k["source"] == f"{tables.THIS_RUN}, 40 paths"]
    assert len(ours) == run.selection[run.selection["task"] == "gsm8k"].drop_duplicates(["model", "method"]).shape[0]
    # Ours come first in a task's block, the paper's after them.
    assert list(gsm8k["source"]).index("Wang2022 Table 1, 40 paths") == len(ours)


def test_report_and_paper_show_the_same_strategy_cells_with_the_verifier_escaped(run):
    html = render_report(run)
    fragment = paper.strategies_section(run) + paper.strategies_table(run)
    assert 'id="strategies"' in html and 'id="strategy-comparison"' in html
    assert HOSTILE not in html and f"best-of-N ({HOSTILE})" in unescape(html)
    assert HOSTILE not in fragment and tex(f"best-of-N ({HOSTILE})") in fragment
    for cell in tables.strategies(run.accuracy, run.selection)["accuracy"].head(20):
        assert cell in html and tex(cell).split(" [")[0] in fragment
    assert "\\includegraphics" in fragment and "strategies.pdf" in fragment and "flops.pdf" in fragment


def test_a_run_without_sampled_paths_has_no_strategies_section_but_its_flops_figure(run):
    empty = run.selection.iloc[0:0]
    assert tables.strategies(run.accuracy, empty).empty
    before, run.selection = run.selection, empty
    try:
        fragment = paper.strategies_section(run)
        html = render_report(run)
    finally:
        run.selection = before
    assert "strategies.pdf" not in fragment and "flops.pdf" in fragment
    assert 'id="strategies"' not in html


def test_selection_csv_reads_back_with_the_verifier_as_text(tmp_path):
    """A run without verifiers writes an all-empty verifier column; it must read back as "" (NaN would
    drop every chooser from the figures' groupby and the tables' verifier filters)."""
    from cotrepro.outputs.strategies import read_selection
    from cotrepro.scoring.selection import selection_table

    score = {
        "id": "q1", "key": "k", "paths_pred_kojima": ["1", "2"], "paths_pred_robust": ["1", "2"],
        "paths_correct_kojima": [True, False], "paths_correct_robust": [True, False],
        "paths_logprob": [-1.0, -2.0], "paths_tokens": [3, 3], "prompt_tokens": 5, "tokens_processed": 11,
        "generated_tokens": 6,
    }  # fmt: skip
    path = tmp_path / "selection.csv"
    selection_table([({"model": "m", "task": "t", "method": "few_shot_cot_sc"}, [score], 10, [])]).to_csv(
        path, index=False
    )
    frame = read_selection(path)
    assert (frame["verifier"] == "").all() and len(frame) > 0
    assert len(frame.groupby(["strategy", "verifier"])) == frame["strategy"].nunique()


def _verification_meta(verifier, kind, model, **fields):
    """One unit's verification metadata as the verify job writes it (the fields the table reads)."""
    base = {"verifier": verifier, "kind": kind, "source": "hub", "repo": None, "revision": None, "parameters": 8.03e9}
    return (
        base
        | {"format": None, "aggregate": None, "licence": None, "scored_by": verifier, "unit": {"model": model}}
        | fields
    )


def test_the_verifiers_table_shows_weights_revision_and_licence_escaped_in_report_and_paper(run):
    commit = "0123456789abcdef0123456789abcdef01234567"
    prm = {"repo": "RLHFlow/Llama3.1-8B-PRM-Deepseek-Data", "revision": commit, "licence": "llama3.1 & <more>"}
    prm |= {"format": "rlhflow", "aggregate": "last"}
    metas = [_verification_meta("prm", "prm", m, **prm) for m in ("a", "b")]
    metas += [_verification_meta("own", "self", m, scored_by=m, parameters=p) for m, p in (("a", 1.24e9), ("b", 3.2e9))]
    table = tables.verifiers(metas)
    assert list(table["verifier"]) == ["own", "prm"] and list(table["units"]) == [2, 2]
    own, prm_row = table.iloc[0], table.iloc[1]
    assert own["weights"] == "each unit's generating model (a, b)" and own["parameters"] == "1.24B, 3.2B"
    assert (
        prm_row["weights"] == f"RLHFlow/Llama3.1-8B-PRM-Deepseek-Data @ {commit}" and prm_row["parameters"] == "8.03B"
    )
    assert prm_row["reads"] == "rlhflow steps, last of them" and prm_row["licence"] == "llama3.1 & <more>"
    before, run.verifications = run.verifications, metas
    try:
        html, fragment = render_report(run), paper.strategies_table(run)
    finally:
        run.verifications = before
    assert 'id="verifiers"' in html and "llama3.1 &amp; &lt;more&gt;" in html and "<more>" not in html
    assert "tab:verifiers" in fragment and tex("llama3.1 & <more>") in fragment and "llama3.1 & " not in fragment
