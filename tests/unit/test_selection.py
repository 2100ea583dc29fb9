"""results/selection.csv (cotrepro.scoring.selection): every chooser on the same stored paths, the cost
at k' paths, verifier scores taken from the contract's files, and stale ones refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from cotrepro.scoring.selection import SELECTION_COLUMNS, StaleVerification, selection_table


def score(qid, answers, correct, logprobs, *, prompt=10, per_path=4):
    return {
        "id": qid,
        "key": f"k-{qid}",
        "paths_pred_kojima": answers,
        "paths_pred_robust": answers,
        "paths_correct_kojima": correct,
        "paths_correct_robust": correct,
        "paths_logprob": logprobs,
        "paths_tokens": [per_path] * len(answers),
        "prompt_tokens": prompt,
        "tokens_processed": prompt + per_path * len(answers),
        "generated_tokens": per_path * len(answers),
    }


SCORES = [
    score("q1", ["3", "5", "5", "3"], [True, False, False, True], [-0.1, -5.0, -6.0, -0.2]),
    score("q2", ["", "8", "9", "9"], [False, True, False, False], [-1.0, -0.1, -3.0, -3.0]),
]
KEY = {"model": "m", "task": "t", "method": "few_shot_cot_sc"}


def verification(scores, rows=None, parameters=1000):
    rows = rows or [
        {"id": "q1", "key": "k-q1", "scores": [0.9, 0.1, 0.2, 0.8], "tokens": 40},
        {"id": "q2", "key": "k-q2", "scores": [0.0, 0.95, 0.3, 0.2], "tokens": 40},
    ]
    return (
        Path("results/verifications/prm/m/t/few_shot_cot_sc.jsonl"),
        {"verifier": "prm", "kind": "prm", "parameters": parameters},
        rows,
    )


def at(table, strategy, paths, verifier=""):
    row = table[(table["strategy"] == strategy) & (table["paths"] == paths) & (table["verifier"] == verifier)]
    row = row[row["style"] == "robust"]
    assert len(row) == 1, (strategy, paths, verifier)
    return row.iloc[0]


def test_every_chooser_at_every_number_of_paths_with_its_cost():
    table = selection_table([(KEY, SCORES, 100, [verification(SCORES)])])
    assert list(table.columns) == SELECTION_COLUMNS
    assert sorted(set(table["paths"])) == [1, 2, 4]
    strategies = set(table["strategy"])
    assert {"majority", "best_of_n", "weighted_best_of_n", "coverage"} <= strategies
    assert {s for s in strategies if s.startswith("weighted_")} - {"weighted_best_of_n"}  # Wang's four
    # All 4 paths: majority picks "3" (q1, 2-2 tie, first) and "9" (q2): 1 of 2 right.
    assert at(table, "majority", 4)["accuracy"] == 50.0
    # best-of-N by the verifier: q1's 0.9 path ("3", right), q2's 0.95 path ("8", right).
    assert at(table, "best_of_n", 4, "prm")["accuracy"] == 100.0
    # Coverage at 4: both questions have a right path.
    assert at(table, "coverage", 4)["accuracy"] == 100.0
    # Cost at k' = 2 of 4: the prompt once (10) and half the paths' decoding (8).
    two = at(table, "majority", 2)
    assert two["mean_tokens_processed"] == 18.0 and two["flops_per_question"] == 2 * 100 * 18
    # A verified strategy adds half the verifier's passes: 2 x 1000 x 40 tokens x 1/2.
    assert at(table, "best_of_n", 2, "prm")["flops_per_question"] == 2 * 100 * 18 + 2 * 1000 * 40 / 2


def test_a_unit_without_log_probabilities_has_no_weighted_votes():
    plain = [dict(s, paths_logprob=[None] * 4) for s in SCORES]
    strategies = set(selection_table([(KEY, plain, 100, [])])["strategy"])
    assert strategies == {"majority", "coverage"}


def test_verifier_scores_of_other_generations_are_refused_naming_the_file():
    stale = verification(SCORES, rows=[{"id": "q1", "key": "old", "scores": [0.1] * 4, "tokens": 4}])
    with pytest.raises(StaleVerification, match=r"^results/verifications/prm/m/t/few_shot_cot_sc.jsonl: 1 row"):
        selection_table([(KEY, SCORES, 100, [stale])])


def test_choices_per_question_are_every_strategy_on_all_paths_with_their_verdict():
    from cotrepro.scoring.selection import CHOICE_FIELDS, choice_rows

    rows = choice_rows([(KEY, SCORES, 100, [verification(SCORES)])])
    assert all(tuple(r) == CHOICE_FIELDS for r in rows)
    got = {(r["id"], r["strategy"], r["verifier"]): (r["choice"], r["correct"]) for r in rows if r["style"] == "robust"}
    assert got[("q1", "majority", "")] == ("3", True)  # 2-2 tie: "3" came first
    assert got[("q1", "weighted_sum_unnormalized", "")] == ("3", True)
    assert got[("q2", "majority", "")] == ("9", False)  # the no-answer path does not vote
    assert got[("q2", "best_of_n", "prm")] == ("8", True)  # 0.95
    assert got[("q2", "weighted_best_of_n", "prm")] == ("8", True)  # 0.95 against 0.3 + 0.2
    assert ("q1", "coverage", "") not in got  # the oracle chooses nothing
    assert len(rows) == 2 * 2 * (1 + 4 + 2)  # styles x questions x (vote, weighted, verifier pair)
