"""Extraction disagreements: each cause on real extractions of crafted completions.

Every score row here comes from the real scorer (score_row, which runs both extractors), so a
change to either extractor that moves an item to another cause, or makes the styles agree, fails.
"""

from __future__ import annotations

import pandas as pd
import pytest

from cotrepro.outputs import tables
from cotrepro.scoring.disagreements import (
    CAUSES,
    COLUMNS,
    classify,
    disagreement_table,
    excerpt,
    read_disagreements,
    unit_disagreements,
)
from cotrepro.scoring.score import score_row

OPTIONS = {"A": "shirt pocket", "B": "blotter", "C": "desk drawer", "D": "ink cartridge", "E": "fountain pen"}


def generation(completion: str, stage2: str | None = None) -> dict:
    """A generation row as the runner writes it, with the given text(s)."""
    row = {"id": "q", "completion": completion, "generated_tokens": 5, "hit_max_new_tokens": False}
    row["over_context"] = False
    if stage2 is not None:
        row |= {"stage2_completion": stage2, "stage2_generated_tokens": 3, "stage2_hit_max_new_tokens": False}
    return row


def record(answer: str, fmt: str, choices: dict | None = None) -> dict:
    rec = {"id": "q", "question": "?", "answer": answer, "answer_format": fmt}
    return rec | ({"choices": choices} if choices else {})


def disagreement(row: dict, rec: dict, method: str) -> dict:
    """The one disagreeing item of a one-question unit, scored by the real scorer."""
    (item,) = unit_disagreements([row], [score_row(row, rec, method)], [rec], method)
    return item


@pytest.mark.parametrize(
    "completion,gold,kojima,robust",
    [
        # Kojima et al.'s cleansing keeps "1250.00", which never equals the gold string "1250".
        ("She pays $1,250.00 in all. The answer is $1,250.00.", "1250", "1250.00", "1250"),
        ("3 + 2 = 5.0 apples. The answer is 5.0.", "5", "5.0", "5"),
    ],
)
def test_number_formatting_same_value_written_differently(completion, gold, kojima, robust):
    item = disagreement(generation(completion), record(gold, "number"), "few_shot_cot")
    assert (item["pred_kojima"], item["pred_robust"], item["cause"]) == (kojima, robust, "formatting")
    assert (item["correct_kojima"], item["correct_robust"]) == (False, True)
    assert "The answer is" in item["excerpt"]


def test_letter_case_of_a_text_answer_is_formatting_too():
    item = disagreement(generation("", " Nyka"), record("nyka", "text"), "zero_shot_cot")
    assert (item["pred_kojima"], item["pred_robust"], item["cause"]) == ("Nyka", "nyka", "formatting")


def test_first_vs_last_a_model_that_corrects_itself():
    # Kojima's split on "The answer is" is case-sensitive: it takes the first number after it; the
    # robust style the last statement's.
    text = "The answer is 12. Wait, I made a mistake: the answer is 15."
    item = disagreement(generation(text), record("15", "number"), "few_shot_cot")
    assert (item["pred_kojima"], item["pred_robust"], item["cause"]) == ("12", "15", "first_vs_last")
    assert "12" in item["excerpt"] and "15" in item["excerpt"]


def test_first_vs_last_on_yes_no():
    item = disagreement(
        generation("The answer is no. Actually the answer is yes."), record("yes", "yes_no"), "few_shot"
    )
    assert (item["pred_kojima"], item["pred_robust"], item["cause"]) == ("no", "yes", "first_vs_last")


@pytest.mark.parametrize(
    "slot,kojima",
    [
        (" Among A through E, the answer is blotter.", "A"),  # the "A" of "Among"
        (" Desk drawer? No: blotter.", "D"),  # the capital D of another option's text
    ],
)
def test_choice_letter_vs_option_text(slot, kojima):
    rec = record("B", "choice:ABCDE", OPTIONS)
    item = disagreement(generation("Let me think.", slot), rec, "zero_shot_cot")
    # The robust style reads the option named by its text as its letter (score.predict).
    assert (item["pred_kojima"], item["pred_robust"], item["cause"]) == (kojima, "B", "letter_vs_text")


def test_an_option_text_whose_capital_is_its_own_letter_is_no_disagreement():
    # Kojima's cleansing takes the capital B of "Blotter."; the robust style the option "blotter".
    rec = record("B", "choice:ABCDE", OPTIONS)
    assert (
        unit_disagreements(
            [generation("Hm.", " Blotter.")],
            [score_row(generation("Hm.", " Blotter."), rec, "zero_shot_cot")],
            [rec],
            "zero_shot_cot",
        )
        == []
    )


def test_an_option_named_by_its_letter_and_text_is_not_letter_vs_text():
    # Kojima's "A" of "Among" against the robust (C): both letters, the option named by letter.
    text = " Among A through E, the answer is (C) desk drawer."
    item = disagreement(generation("", text), record("C", "choice:ABCDE", OPTIONS), "zero_shot_cot")
    assert (item["pred_kojima"], item["pred_robust"], item["cause"]) == ("A", "C", "other")


@pytest.mark.parametrize(
    "slot,gold,kojima,robust",
    [
        (" twelve", "12", "", "12"),  # number words: only the robust style reads them
        (" abc123", "123", "123", ""),  # digits glued to a word: only Kojima's regex takes them
    ],
)
def test_no_answer_found_by_one_style(slot, gold, kojima, robust):
    item = disagreement(generation(slot), record(gold, "number"), "zero_shot")
    assert (item["pred_kojima"], item["pred_robust"], item["cause"]) == (kojima, robust, "no_answer")


def test_other_when_the_styles_read_the_text_differently():
    # A decimal comma: 2.5 to the robust style, 25 to Kojima's (commas dropped).
    item = disagreement(generation(" 2,5"), record("2.5", "number"), "zero_shot")
    assert (item["pred_kojima"], item["pred_robust"], item["cause"]) == ("25", "2.5", "other")


def test_zero_shot_cot_fallback_reads_the_stage1_reasoning():
    """The robust style found nothing in stage 2 and read stage 1: the classification reads stage 1
    too, so both answers are found in the text read and the cause is first vs last."""
    row = generation("It is 9, no: the answer is 7.", " abc9")
    item = disagreement(row, record("7", "number"), "zero_shot_cot")
    assert (item["pred_kojima"], item["pred_robust"], item["cause"]) == ("9", "7", "first_vs_last")
    assert "7" in item["excerpt"]
    # Stage 1 without Kojima's answer in it: the styles read different numbers, nothing shared.
    row = generation("So 4 + 3 = 7 and the answer is 7.", " abc123")
    item = disagreement(row, record("7", "number"), "zero_shot_cot")
    assert (item["pred_kojima"], item["pred_robust"], item["cause"]) == ("123", "7", "other")


def test_self_consistency_item_takes_its_paths_most_frequent_cause():
    rec = record("5", "number")
    texts = ["The answer is 5.0.", "The answer is 5.0.", "The answer is 12. So the answer is 15.", "The answer is 5."]
    row = {"id": "q", "prompt": "Q", "prompt_tokens": 3, "over_context": False}
    row["paths"] = [{k: v for k, v in generation(t).items() if k not in ("id", "over_context")} for t in texts]
    score = score_row(row, rec, "few_shot_cot_sc")
    assert score["paths_pred_kojima"] == ["5.0", "5.0", "12", "5"]
    assert (score["pred_kojima"], score["pred_robust"]) == ("5.0", "5")
    (item,) = unit_disagreements([row], [score], [rec], "few_shot_cot_sc")
    assert item["cause"] == "formatting" and item["excerpt"].startswith("path 1: ")


def test_agreeing_items_are_left_out_and_classify_refuses_them():
    rec = record("18", "number")
    row = generation("The answer is 18.")
    assert unit_disagreements([row], [score_row(row, rec, "few_shot_cot")], [rec], "few_shot_cot") == []
    with pytest.raises(ValueError, match="agree"):
        classify("18", "18", "18", "number")


def test_excerpt_shows_both_distant_answers_and_cuts_the_rest():
    text = "The answer is 12." + " filler" * 40 + " the answer is 15." + " tail" * 40
    cut = excerpt(text, ["12", "15"], width=20)
    assert cut.startswith("The answer is 12.") and "15." in cut and cut.count("…") == 2
    assert len(cut) < 120
    # An answer not written as extracted ("1250" from "$1,250.00"): the piece around the answer slot.
    assert excerpt("x" * 200 + " The answer is $1,250.00.", ["1250.00x", "1250y"], width=10).startswith("…")


def test_table_csv_round_trip_and_counts_beside_accuracy(tmp_path):
    rec = record("5", "number")
    units = [
        (("m", "t", "few_shot_cot"), [generation("The answer is 5.0.")], None, [rec]),
        (("m", "t", "zero_shot"), [generation(" twelve")], None, [rec]),
    ]
    units = [(k, g, [score_row(g[0], r[0], k[2])], r) for k, g, _, r in units]
    frame = disagreement_table(units)
    assert list(frame.columns) == COLUMNS and frame["cause"].tolist() == ["formatting", "no_answer"]
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    back = read_disagreements(path)
    assert back["pred_kojima"].tolist() == ["5.0", ""] and back["gold"].tolist() == ["5", "5"]
    assert back["correct_robust"].tolist() == [True, False]

    acc = pd.DataFrame(
        [
            {"model": "m", "task": "t", "method": meth, "style": st, "n": 1, "parameters": 10, "accuracy": a}
            for meth in ("zero_shot", "few_shot_cot")
            for st, a in (("robust", 100.0 if meth == "few_shot_cot" else 0.0), ("kojima", 0.0))
        ]
    )
    counts = tables.disagreement_counts(acc, back)
    assert counts["differ"].tolist() == [1, 1]
    assert counts[CAUSES["formatting"]].tolist() == [0, 1] and counts[CAUSES["no_answer"]].tolist() == [1, 0]
    assert counts["robust"].tolist() == ["0.0", "100.0"]
    compact = tables.disagreement_counts(acc, back, compact=True)
    assert compact["by cause"].tolist() == ["no answer 1", "number format 1"]
    examples = tables.disagreement_examples(back)
    assert examples["cause"].tolist() == [CAUSES["formatting"], CAUSES["no_answer"]]
    assert examples["paper-faithful"].tolist() == ["5.0 (wrong)", "(none) (wrong)"]
