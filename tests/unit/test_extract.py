"""Answer extraction on real-looking completions, both styles side by side.

The completions are the project's own. Each row says what the paper-faithful extractor
(kojima: Kojima et al.'s answer cleansing, quirks included) and the robust one must return.
"""

import pytest

from cotrepro.answers import normalize_answer
from cotrepro.scoring.extract import STYLES, extract_answer, is_correct, option_named

ABCDE = "choice:ABCDE"
ABC = "choice:ABC"
NUM, YN, TXT = "number", "yes_no", "text"
ZS, ZSC, FS, FSC = "zero_shot", "zero_shot_cot", "few_shot", "few_shot_cot"

JANET = " Janet has 16 - 3 - 4 = 9 eggs. She makes 9 * 2 = 18 dollars. The answer is 18.\n\n"

# (id, text, fmt, method, kojima, robust)
CASES = [
    # --- number, zero-shot: the continuation of "The answer (arabic numerals) is"
    ("zs-plain", " 18.\n\n", NUM, ZS, "18", "18"),
    ("zs-dollars", " $1,250.", NUM, ZS, "1250", "1250"),
    ("zs-dollars-cents", " $1,250.00.", NUM, ZS, "1250.00", "1250"),
    ("zs-unit-word", " 18 dollars", NUM, ZS, "18", "18"),
    ("zs-unit-word-period", " 18 dollars.", NUM, ZS, "18", "18"),
    ("zs-negative-unit", " -5 degrees Celsius.", NUM, ZS, "-5", "-5"),
    ("zs-decimal", " 2.50 per cup.", NUM, ZS, "2.50", "2.5"),
    ("zs-percent", " 20%.", NUM, ZS, "20", "20"),
    ("zs-km", " 5 km, which is 5000 m.", NUM, ZS, "5", "5"),
    ("zs-millions", " 1,000,000 people.", NUM, ZS, "1000000", "1000000"),
    ("zs-first-number", " 42, since 40 + 2 = 42.", NUM, ZS, "42", "42"),
    ("zs-first-of-equation", " 3 + 4 = 7.", NUM, ZS, "3", "3"),
    ("zs-bold", " **7**", NUM, ZS, "7", "7"),
    ("zs-boxed", " \\boxed{42}.", NUM, ZS, "42", "42"),
    ("zs-no-number", " not given in the question.", NUM, ZS, "", ""),
    # --- number, zero-shot CoT stage 2: the continuation of "Therefore, the answer (arabic numerals) is"
    ("zscot-cents", " $18.00.", NUM, ZSC, "18.00", "18"),
    ("zscot-period", " 18.", NUM, ZSC, "18", "18"),
    ("zscot-fraction-of-hour", " 0.5 hours.", NUM, ZSC, "0.5", "0.5"),
    ("zscot-negative", " -12.", NUM, ZSC, "-12", "-12"),
    ("zscot-euro", " €3,500 in total.", NUM, ZSC, "3500", "3500"),
    ("zscot-pound", " £7.25.", NUM, ZSC, "7.25", "7.25"),
    ("zscot-separator-and-decimal", " 1,250.5", NUM, ZSC, "1250.5", "1250.5"),
    ("zscot-empty", "", NUM, ZSC, "", ""),
    # --- number, few-shot
    ("fs-statement", " The answer is 26.\n\n", NUM, FS, "26", "26"),
    ("fs-statement-dollars", " The answer is $1,250.\n\n", NUM, FS, "1250", "1250"),
    ("fs-bare", " $7.\n\n", NUM, FS, "7", "7"),
    ("fscot-statement", JANET, NUM, FSC, "18", "18"),
    ("fscot-statement-then-reason", " The answer is 3, because 6 / 2 = 3.", NUM, FSC, "3", "3"),
    (
        "fscot-list-in-reasoning",
        " She buys 1, 2 and 3 apples on three days, so 1 + 2 + 3 = 6 apples. The answer is 6.",
        NUM,
        FSC,
        "6",
        "6",
    ),
    ("fscot-no-statement-last-number", " She has 20 - 12 = 8 left, and 8 is what remains", NUM, FSC, "8", "8"),
    (
        "fscot-rambling-no-statement",
        " First, 4 * 5 = 20 pencils. Then she gives away 7, so 20 - 7 = 13 pencils remain in the box",
        NUM,
        FSC,
        "13",
        "13",
    ),
    ("fscot-last-statement-wins", " The answer is 5. Wait, 2 + 4 = 6. The answer is 6.", NUM, FSC, "6", "6"),
    (
        "fscot-invented-next-question",
        " 9 * 2 = 18. The answer is 18.\n\nQ: A farmer has 12 cows and buys 5 more. How many cows?\n"
        "A: 12 + 5 = 17. The answer is 17.",
        NUM,
        FSC,
        "17",
        "18",
    ),
    ("fscot-boxed", " 40 + 2 = 42, so \\boxed{42} apples, or 21 pairs", NUM, FSC, "21", "42"),
    ("fscot-final-answer-colon", " 12 + 30 = 42\nFinal answer: 42 (with 3 left over)", NUM, FSC, "3", "42"),
    ("fscot-final-answer-is", " 3 * 5 = 15, so the final answer is 15, not 10", NUM, FSC, "10", "15"),
    ("fscot-lowercase-statement", " So the answer is 12 and she keeps 3.", NUM, FSC, "3", "12"),
    ("fscot-separators", " 1,000 + 250 = 1,250. The answer is $1,250.", NUM, FSC, "1250", "1250"),
    ("fscot-trailing-zero", " Each costs 7.5 / 3 = 2.50 dollars. The answer is 2.50.", NUM, FSC, "2.50", "2.5"),
    ("fscot-negative", " The temperature drops from 3 to -5 degrees. The answer is -5.", NUM, FSC, "-5", "-5"),
    ("fscot-bold-answer", " 6 * 7 = 42 in total.\n\n**Answer: 42**", NUM, FSC, "42", "42"),
    (
        "fscot-empty-last-statement",
        " The answer is 14. Let me double-check: the answer is right.",
        NUM,
        FSC,
        "14",
        "14",
    ),
    ("fscot-empty", "", NUM, FSC, "", ""),
    # --- multiple choice (Kojima's regex finds the capitals anywhere, even inside words)
    ("choice-paren", " (C).", ABCDE, ZSC, "C", "C"),
    ("choice-among-through", " Among A through E, the answer is (D).", ABCDE, ZSC, "A", "D"),
    ("choice-capital-opens-word", " Clearly (B).", ABCDE, ZSC, "C", "B"),
    ("choice-capital-in-word", " Eventually (B).", ABCDE, ZS, "E", "B"),
    ("choice-letter-period", " D.", ABCDE, ZSC, "D", "D"),
    ("choice-letter-paren", " D) 42 apples", ABCDE, ZSC, "D", "D"),
    ("choice-option-word", " Definitely option E.", ABCDE, ZSC, "D", "E"),
    ("choice-slot-a-before-word", " A because the others are too large.", ABCDE, ZSC, "A", "A"),
    ("choice-few-shot-statement", " Trees grow in forests. The answer is (E).", ABCDE, FSC, "E", "E"),
    ("choice-few-shot-answer-colon", " Only one of them is a fruit.\nAnswer: C", ABCDE, FSC, "C", "C"),
    ("choice-no-statement-last", " (B) is right, since Cats are mammals", ABCDE, FSC, "C", "B"),
    ("choice-article-is-not-option", " A cat is a mammal, so (C) is wrong and B is right", ABCDE, FSC, "B", "B"),
    ("choice-article-only", " A cat is a mammal.", ABCDE, FSC, "A", ""),
    ("choice-three-letters", " (C) since the ball ends with Alice.", ABC, ZSC, "C", "C"),
    ("choice-letter-outside-format", " (D) or (B)", ABC, ZSC, "B", "B"),
    (
        "choice-three-statement",
        " Bob swaps with Claire, then Alice swaps with Bob. The answer is (A).",
        ABC,
        FSC,
        "A",
        "A",
    ),
    # --- yes / no
    ("yn-yes", " Yes.", YN, ZSC, "yes", "yes"),
    ("yn-quoted-no", ' "No".', YN, ZS, "no", "no"),
    ("yn-true", " True.", YN, ZS, "", "yes"),
    ("yn-false", " False, because the coin was flipped once.", YN, ZSC, "", "no"),
    ("yn-colon", " yes: the coin is still heads up", YN, ZSC, "yes", "yes"),
    ("yn-not-inside-word", " Nobody knows; yes.", YN, ZS, "yes", "yes"),
    ("yn-first-in-slot", " No. Yes, it was flipped, but twice.", YN, ZS, "no", "no"),
    ("yn-few-shot-statement", " The answer is Yes.\n\n", YN, FS, "yes", "yes"),
    (
        "yn-few-shot-lowercase-statement",
        " The coin was flipped twice, so it is heads up again. So the answer is yes.",
        YN,
        FSC,
        "yes",
        "yes",
    ),
    (
        "yn-few-shot-statement-after-yes",
        " A whale is a mammal, yes, but it cannot fly. The answer is no.",
        YN,
        FSC,
        "no",
        "no",
    ),
    ("yn-few-shot-no-statement-last", " Is it possible? No, wait, yes", YN, FSC, "yes", "yes"),
    ("yn-none", " It depends on the coin.", YN, ZSC, "", ""),
    # --- text (last-letter concatenation): Kojima deletes quotes, periods and all whitespace
    ("text-quoted", ' "nk".', TXT, ZSC, "nk", "nk"),
    ("text-few-shot-statement", ' The last letters are "e" and "y". The answer is ey.', TXT, FSC, "ey", "ey"),
    ("text-single-quotes", " The answer is 'lo'.\n", TXT, FSC, "lo", "lo"),
    ("text-spaces-removed", " ab cd.", TXT, ZS, "abcd", "ab"),
    ("text-upper-case", " NK", TXT, ZS, "NK", "nk"),
    ("text-then-reason", ' "ry", since Larry ends in y', TXT, ZSC, "ry,sinceLarryendsiny", "ry"),
    (
        "text-no-statement",
        ' Elon ends in n and Musk ends in k, so together "nk"',
        TXT,
        FSC,
        "ElonendsinnandMuskendsink,sotogethernk",
        "nk",
    ),
    # Robust rules found on Kojima et al.'s released completions (their shapes, the project's words).
    ("text-spelled-with-spaces", ' "r a y n".', TXT, ZSC, "rayn", "rayn"),
    ("text-spelled-with-commas", " r, a, y, n.", TXT, ZSC, "r,a,y,n", "rayn"),
    ("text-spelled-with-hyphens", " r-a-y-n", TXT, ZS, "r-a-y-n", "rayn"),
    ("text-article-is-no-spelling", " a word", TXT, ZS, "aword", "a"),
    ("number-in-blanks", " ___8142___.", NUM, ZS, "8142", "8142"),
    ("number-word", " eighteen.", NUM, ZS, "", "18"),
    ("number-words-compound", " one hundred fifty-seven thousand four hundred.", NUM, ZSC, "", "157400"),
    ("number-words-point", " fifty-two point six two.", NUM, ZSC, "", "52.62"),
    ("number-words-cents", " Thirty-Four Dollars and Seventy-Two Cents.", NUM, ZSC, "", "34.72"),
    ("number-words-beside-numerals", " one of them has 7.", NUM, ZS, "7", "7"),
    ("number-fraction", " 3/4 of a cup.", NUM, ZS, "3", "0.75"),
    ("number-fraction-no-decimal", " 1/3.", NUM, ZS, "1", "1/3"),
    ("number-decimal-comma", " 2,5 kg.", NUM, ZS, "25", "2.5"),
    ("number-list-is-no-decimal-comma", " 1,2,3", NUM, ZS, "123", "1"),
    ("choice-run-opens-the-slot", " CE.", ABCDE, ZSC, "C", "C"),
]


@pytest.mark.parametrize("text,fmt,method,kojima,robust", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_extraction(text, fmt, method, kojima, robust):
    assert extract_answer(text, fmt, method, "kojima") == kojima
    assert extract_answer(text, fmt, method, "robust") == robust


@pytest.mark.parametrize("method,expected", [(FS, "5"), (FSC, "5"), (ZS, "3"), (ZSC, "3")])
def test_kojima_candidate_choice_by_method(method, expected):
    # Few-shot without "The answer is": last candidate; zero-shot: first.
    assert extract_answer(" 3 cars plus 2 cars are 5 cars", NUM, method, "kojima") == expected


def test_kojima_few_shot_statement_takes_first_candidate_after_last_statement():
    text = " The answer is 4. No: 2 + 3 = 5, 5 + 1 = 6. The answer is 6 or 7."
    assert extract_answer(text, NUM, FSC, "kojima") == "6"


def test_kojima_statement_is_case_sensitive():
    # Only "The answer is" splits; "the answer is" leaves the last-candidate rule in force.
    assert extract_answer(" the answer is 4, from 2 + 2", NUM, FS, "kojima") == "2"
    assert extract_answer(" The answer is 4, from 2 + 2", NUM, FS, "kojima") == "4"


def test_kojima_removes_one_trailing_period_only_from_the_chosen_candidate():
    assert extract_answer(" 18.", NUM, ZS, "kojima") == "18"
    assert extract_answer(" 7.5.", NUM, ZS, "kojima") == "7.5"


@pytest.mark.parametrize(
    "text",
    [" (C)", " Among A through E, the answer is (C).", " Option (C)!", " [C]", " C, because the others are smaller."],
)
def test_robust_reads_the_option_not_the_words_around_it(text):
    assert extract_answer(text, ABCDE, ZSC, "robust") == "C"


def test_robust_few_shot_ignores_text_after_an_invented_question():
    text = " 3 + 4 = 7.\n\nQ: How many legs do 2 dogs have?\nA: 2 * 4 = 8."
    assert extract_answer(text, NUM, FSC, "robust") == "7"
    assert extract_answer(text, NUM, FSC, "kojima") == "8"


@pytest.mark.parametrize(
    "pred,gold,fmt,kojima,robust",
    [
        ("18", "18", NUM, True, True),
        ("18", " 18\n", NUM, True, True),
        ("18.00", "18", NUM, False, True),
        ("2230", "2,230", NUM, False, True),  # GSM8K golds with separators never match under Kojima
        ("2125", "2,125", NUM, False, True),
        ("1250", "1250.0", NUM, False, True),
        ("0.5", ".5", NUM, False, True),
        ("-5", "-5", NUM, True, True),
        ("", "18", NUM, False, False),
        ("17", "18", NUM, False, False),
        ("eighteen", "18", NUM, False, False),
        ("yes", "yes", YN, True, True),
        ("yes", "Yes", YN, False, True),
        ("no", "yes", YN, False, False),
        ("D", "D", ABCDE, True, True),
        ("D", "(D)", ABCDE, False, True),
        ("", "D", ABCDE, False, False),
        ("nk", "nk", TXT, True, True),
        ("nk", "NK", TXT, False, True),
    ],
    ids=lambda v: repr(v) if isinstance(v, str) else None,
)
def test_correctness(pred, gold, fmt, kojima, robust):
    assert is_correct(pred, gold, fmt, "kojima") is kojima
    assert is_correct(pred, gold, fmt, "robust") is robust


def test_extracted_then_scored_end_to_end():
    pred = {style: extract_answer(" $2,230.00.", NUM, ZSC, style) for style in STYLES}
    assert pred == {"kojima": "2230.00", "robust": "2230"}
    assert not is_correct(pred["kojima"], "2230", NUM, "kojima")
    assert is_correct(pred["robust"], "2,230", NUM, "robust")


@pytest.mark.parametrize(
    "answer,fmt,expected",
    [
        ("2,125", NUM, "2125"),
        ("$1,250.00", NUM, "1250"),
        ("$18.50", NUM, "18.5"),
        ("18.", NUM, "18"),
        (" 1 250 ", NUM, "1250"),
        ("-0", NUM, "0"),
        ("-0.0", NUM, "0"),
        ("-$5", NUM, "-5"),
        ("2.50", NUM, "2.5"),
        ("1, 2", NUM, None),
        ("18 apples", NUM, None),
        ("seven", NUM, None),
        ("3/4", NUM, "0.75"),
        ("2,5", NUM, "2.5"),
        ("2,125", NUM, "2125"),
        ("", NUM, None),
        ("Yes", YN, "yes"),
        ("FALSE.", YN, "no"),
        ("maybe", YN, None),
        ("(b)", ABCDE, "B"),
        ("F", ABCDE, None),
        ("F", "choice:ABCDEF", "F"),
        (' "NK". ', TXT, "nk"),
        ("  ", TXT, None),
    ],
)
def test_normalize_answer(answer, fmt, expected):
    assert normalize_answer(answer, fmt) == expected


@pytest.mark.parametrize(
    "fmt,method,style,allowed",
    [
        ("date", ZS, "robust", "number, yes_no, text, math, choice:LETTERS"),
        ("choice:abc", ZS, "robust", "choice:LETTERS"),
        (NUM, "one_shot", "robust", "zero_shot, zero_shot_cot, few_shot, few_shot_cot"),
        (NUM, ZS, "lenient", "kojima, robust"),
    ],
)
def test_unknown_arguments_name_the_allowed_values(fmt, method, style, allowed):
    with pytest.raises(ValueError, match=allowed):
        extract_answer("18", fmt, method, style)


def test_is_correct_and_normalize_reject_unknown_arguments():
    with pytest.raises(ValueError, match="kojima, robust"):
        is_correct("18", "18", NUM, "lenient")
    with pytest.raises(ValueError, match="answer format"):
        normalize_answer("18", "date")


DATE_CHOICES = {
    "A": "10/11/2019",
    "B": "10/12/2019",
    "C": "10/16/2019",
    "D": "10/10/2019",
    "E": "10/11/1974",
    "F": "10/11/2018",
}


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        # Wei et al.'s date exemplars answer with the date: "So the answer is 01/05/2015."
        (" Today is 10/11/2019, so tomorrow is 10/12/2019. So the answer is 10/12/2019.", "B"),
        # After the statement the first option named wins ...
        (" The answer is 10/11/2018, not 10/11/2019.", "F"),
        # ... in a chain without one, the last (its result).
        (" It was 10/11/2019 and a day earlier 10/10/2019", "D"),
        # Only whole options count: 10/11/20190 is none of them; a next question is not read.
        (" The answer is 10/11/20190.", ""),
        (" The answer is unclear.\n\nQ: Is it 10/11/2019?", ""),
    ],
)
def test_option_named_maps_an_answer_given_as_option_text_to_its_letter(text, letter):
    assert option_named(text, DATE_CHOICES) == letter


def test_robust_scoring_reads_option_text_but_paper_faithful_does_not():
    from cotrepro.scoring.score import score_row

    record = {"id": "d1", "answer": "B", "answer_format": "choice:ABCDEF", "choices": DATE_CHOICES}
    row = {
        "completion": " Tomorrow is one day later. So the answer is 10/12/2019.",
        "generated_tokens": 12,
        "hit_max_new_tokens": False,
        "over_context": False,
    }
    scores = score_row(row, record, "few_shot_cot")
    assert (scores["pred_robust"], scores["correct_robust"]) == ("B", True)
    assert not scores["correct_kojima"]
    # A letter, where there is one, still decides.
    letter = {**row, "completion": " So the answer is (C), not 10/12/2019."}
    assert score_row(letter, record, "few_shot_cot")["pred_robust"] == "C"
