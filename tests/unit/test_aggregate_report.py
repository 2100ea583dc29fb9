"""Accuracy aggregation, the accuracy matrix and the published-vs-reproduced table, on hand-made data."""

from pathlib import Path

import pandas as pd
import pytest

from cotrepro.outputs.tables import THIS_RUN, accuracy_matrix, comparison, comparison_pairs
from cotrepro.scoring.aggregate import COLUMNS, accuracy_table
from cotrepro.scoring.score import score_rows

REPO = Path(__file__).resolve().parents[2]
META = {
    "backend": {"parameters": 2_779_683_840},
    "model": {"resolved_revision": "ef382358ec9e382308935a992d908de099b64c23"},
}


def gen_row(rid, completion, stage2=None, tokens=10, hit=False, over=False):
    row = {
        "id": rid,
        "completion": completion,
        "generated_tokens": tokens,
        "hit_max_new_tokens": hit,
        "over_context": over,
    }
    if stage2 is not None:
        row.update(
            stage2_completion=stage2,
            stage2_generated_tokens=3,
            stage2_hit_max_new_tokens=False,
            stage2_over_context=False,
        )
    return row


RECORDS = [
    {"id": f"q{i}", "question": "?", "answer": a, "answer_format": "number", "choices": None}
    for i, a in enumerate(["18", "2,125", "7", "40"])
]


def test_scores_keep_both_styles_and_flags():
    rows = [
        gen_row("q0", " Janet makes 9 * 2 = 18 dollars. The answer is 18.", hit=True),
        gen_row("q1", " The answer is 2,125."),
        gen_row("q2", " She has 3 + 4 = 7 left, so 7", over=True),
        gen_row("q3", " I do not know."),
    ]
    scores = score_rows(rows, RECORDS, "few_shot_cot")
    assert [s["pred_kojima"] for s in scores] == ["18", "2125", "7", ""]
    assert [s["correct_kojima"] for s in scores] == [True, False, True, False]  # "2,125" gold: Kojima's quirk
    assert [s["correct_robust"] for s in scores] == [True, True, True, False]
    table = accuracy_table([({"model": "phi-2", "task": "gsm8k", "method": "few_shot_cot"}, scores, META)])
    assert list(table.columns) == COLUMNS
    k, r = table.set_index("style").loc["kojima"], table.set_index("style").loc["robust"]
    assert (k["correct"], k["accuracy"], r["correct"], r["accuracy"]) == (2, 50.0, 3, 75.0)
    assert r["ci_low"] == pytest.approx(30.06, abs=0.01) and r["ci_high"] == pytest.approx(95.44, abs=0.01)
    assert r["frac_no_answer"] == 0.25 and r["frac_hit_max_new_tokens"] == 0.25 and r["frac_over_context"] == 0.25
    assert r["mean_generated_tokens"] == 10 and r["parameters"] == 2_779_683_840
    assert r["revision"] == META["model"]["resolved_revision"]


def test_zero_shot_cot_reads_stage_two_and_robust_falls_back_to_reasoning():
    rows = [
        gen_row("q0", " 9 * 2 = 18. The answer is 18.", stage2=" unclear."),
        gen_row("q2", " 3 + 4 = 7.", stage2=" 7."),
    ]
    scores = score_rows(rows, [RECORDS[0], RECORDS[2]], "zero_shot_cot")
    assert [s["pred_kojima"] for s in scores] == ["", "7"]
    assert [s["pred_robust"] for s in scores] == ["18", "7"]
    assert scores[0]["generated_tokens"] == 13


def test_rows_without_task_record_are_an_error():
    with pytest.raises(ValueError, match="no task record"):
        score_rows([gen_row("zz", "1")], RECORDS, "zero_shot")


def test_published_numbers_sit_beside_ours_for_the_same_model():
    acc = pd.DataFrame(
        [
            {
                "model": "phi-2",
                "parameters": 2.78e9,
                "task": "gsm8k",
                "method": "few_shot_cot",
                "style": "robust",
                "accuracy": 55.0,
                "ci_low": 52.3,
                "ci_high": 57.7,
            }
        ]
    )
    published = pd.read_csv(REPO / "config/published.csv")
    assert comparison_pairs(acc, published) == [("few_shot", "few_shot_cot")]  # no zero-shot method ran
    table = comparison(acc, None, published, ("few_shot", "few_shot_cot"))
    assert set(table["task"]) == {"gsm8k"}
    ours = table.iloc[0]  # our rows lead the task's block, the papers' rows follow
    assert (ours["model"], ours["source"], ours["parameters"]) == ("phi-2", THIS_RUN, "2.78B")
    assert ours["few-shot CoT"] == "55.0 [52.3, 57.7]" and ours["few-shot"] == ours["delta"] == ""
    phi = table[(table["model"] == "phi-2") & (table["source"] != THIS_RUN)].iloc[0]
    assert phi["few-shot CoT"] == "61.1" and phi["source"] == "Phi-2 release blog Table 1, model card setting"
    palm = table[(table["model"] == "PaLM 540B") & (table["source"] == "Wei2022 Table 2")].iloc[0]
    assert (palm["few-shot"], palm["few-shot CoT"], palm["delta"], palm["parameters"]) == (
        "17.9",
        "56.9",
        "+39.0",
        "540B",
    )
    assert palm["McNemar p"] == ""  # the papers give no paired test


def test_accuracy_matrix_orders_models_by_size():
    rows = [
        {
            "model": m,
            "parameters": p,
            "task": "gsm8k",
            "method": meth,
            "style": "robust",
            "accuracy": 1.0,
            "ci_low": 0.5,
            "ci_high": 2.0,
        }
        for m, p in [("b", 2e9), ("a", 7.7e7)]
        for meth in ("few_shot", "zero_shot")
    ]
    wide = accuracy_matrix(pd.DataFrame(rows), None, "robust")
    assert list(wide["model"]) == ["a", "b"] and list(wide["parameters"]) == ["77M", "2B"]
    assert list(wide.columns) == ["task", "model", "parameters", "zero-shot", "few-shot"]
    assert wide.loc[0, "few-shot"] == "1.0 [0.5, 2.0]"
