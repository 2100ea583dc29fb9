"""Answer extraction from completions, in two styles kept side by side.

- ``kojima``: exactly the answer cleansing of Kojima et al. (2022)'s code (``answer_cleansing``
  in their ``utils.py``), quirks included, and their correctness test (exact string equality
  with the stripped gold answer), so that our numbers compare with the paper's.
- ``robust``: the project's best extractor. It never sees the gold answer. It prefers an
  explicit answer statement, reads "$1,250.00" as 1250, "3/4" as 0.75, a decimal comma ("2,5")
  as a decimal point and, where a text holds no numerals, number words ("eighteen"); treats
  letters as options only when they stand alone (or as a run of option letters opening the
  answer slot, "CE"); reads a text answer spelled out letter by letter ("n a o a", "n, a, o, a")
  as one word; and compares numbers by exact value.

``text`` is what follows the answer trigger for the zero-shot methods (the stage-2 completion
for zero-shot CoT) and the whole completion for the few-shot methods.

Answer formats: ``number``, ``yes_no``, ``text`` (last-letter concatenation) and
``choice:LETTERS`` (e.g. ``choice:ABCDE``).
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from functools import cache

from cotrepro import methods
from cotrepro.answers import NUMBER, canonical_number, canonical_value, check_format, letters_of, normalize_answer
from cotrepro.prompts import FEW_SHOT_ANSWER_PREFIX as FEW_SHOT_TRIGGER
from cotrepro.scoring.math_answers import equivalent, last_boxed, math_answer

STYLES = ("kojima", "robust")


def _check_style(style: str) -> None:
    if style not in STYLES:
        raise ValueError(f"unknown extraction style {style!r}; allowed: {', '.join(STYLES)}")


def extract_answer(text: str, fmt: str, method: str, style: str) -> str:
    """The answer in ``text`` for answer format ``fmt``, or "" when there is none.

    ``method`` is a key of :mod:`cotrepro.methods`; ``style`` one of ``STYLES``. An unknown
    format, method or style raises ValueError naming the allowed values. A few-shot method's
    text is a free completion (its answer follows "The answer is"); any other method's text is
    the answer slot after a trigger.
    """
    return extract_from(text, fmt, style, chain=methods.get(method).few_shot)


def extract_from(text: str, fmt: str, style: str, *, chain: bool) -> str:
    """:func:`extract_answer` on a free reasoning chain (``chain``) or on the answer slot after a trigger."""
    check_format(fmt)
    _check_style(style)
    if fmt == "math":
        # Both styles read the same LaTeX answer (last \\boxed{}, else the answer slot); they differ
        # in how it is judged (is_correct).
        if chain:
            text = _NEXT_QUESTION.split(text, 1)[0]
            return math_answer(text if last_boxed(text) is not None else answer_slot(text))
        return math_answer(text)
    return _kojima(text, fmt, chain) if style == "kojima" else _robust(text, fmt, chain)


# --- Kojima et al.'s answer cleansing -------------------------------------------------------


def _kojima(text: str, fmt: str, few_shot: bool) -> str:
    if few_shot:
        parts = text.split(FEW_SHOT_TRIGGER)
        answer_flag = len(parts) > 1
        text = parts[-1]
    letters = letters_of(fmt)
    if letters:
        # Any occurrence of the capital letters, even inside words ("Among" yields "A"): their quirk.
        candidates = re.findall("|".join(letters), text)
    elif fmt == "number":
        candidates = re.findall(r"-?\d+\.?\d*", text.replace(",", ""))
    elif fmt == "yes_no":
        words = re.sub(r"\"|\'|\n|\.|\s|\:|\,", " ", text.lower()).split(" ")
        candidates = [w for w in words if w in ("yes", "no")]
    else:
        candidates = [re.sub(r"\"|\'|\n|\.|\s", "", text)]
    if not candidates:
        pred = ""
    elif few_shot:
        pred = candidates[0] if answer_flag else candidates[-1]
    else:
        pred = candidates[0]
    # Their arithmetic fix-up: "18." -> "18" (one period only).
    if pred.endswith("."):
        pred = pred[:-1]
    return pred


# --- the robust extractor -------------------------------------------------------------------

# Few-shot models sometimes go on to invent the next exemplar; its answer is not ours.
_NEXT_QUESTION = re.compile(r"\n\s*Q:")
# "The answer is", "the final answer is", "Answer:", "answer (arabic numerals) is", "\boxed{".
_STATEMENT = re.compile(r"\banswer(?:\s*\([^()\n]*\))?\s*(?:is\b|:)|\\boxed\{", re.I)
_YES_NO = re.compile(r"\b(yes|no|true|false)\b", re.I)
_WORD = re.compile(r"[^\W\d_]+")
# A word spelled out letter by letter: single letters apart by spaces, commas or hyphens ("n a o a").
_LETTER = r"[^\W\d_](?![\w'’])"
_SPELLED = re.compile(rf"(?<![\w'’]){_LETTER}(?:(?:\s*[,;/\-–]\s*|\s+){_LETTER})+")

_UNITS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ]
    )
}
_TENS = dict(
    zip(["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"], range(20, 100, 10), strict=True)
)
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_W = "|".join([*_UNITS, *_TENS, *_SCALES])
# "one hundred fifty-seven thousand four hundred", "fifty-two point six two", "thirty-four dollars
# and seventy-two cents": a run of number words, then an optional decimal part or cents.
_PHRASE = rf"(?:{_W})(?:(?:[\s-]+|\s+and\s+)(?:{_W}))*"
_NUMBER_WORDS = re.compile(
    rf"\b(?P<whole>{_PHRASE})(?:\s+point\s+(?P<point>{_PHRASE})"
    rf"|\s+dollars?\s+and\s+(?P<cents>{_PHRASE})\s+cents?)?\b",
    re.I,
)


@cache
def _option_patterns(letters: str) -> tuple[re.Pattern, re.Pattern]:
    option = rf"[\(\[]?[{letters}]"
    # "Among A through E" echoes the trigger; it names the range, not the answer.
    span = re.compile(rf"(?<![\w'’]){option}[\)\]]?\s*(?:through|to|-|–)\s*{option}[\)\]]?(?![\w'’])")
    standalone = re.compile(rf"(?<![\w'’])({option})(?![\w'’])")
    return span, standalone


# A bare "A" before a lower-case word is the article ("A cat is ...") unless it follows one of
# these, or opens an answer slot ("... the answer is A because ...").
_OPTION_CUE = re.compile(r"\b(?:option|choice|answer|is)\s*$|:\s*$", re.I)
# ... and "A is wrong", "A and B" name options whatever precedes them.
_ARTICLE_NEXT = re.compile(r"\s+(?!(?:is|and|or|because|since)\b)[a-z]")


def _choices(text: str, letters: str, slot: bool) -> list[str]:
    span, standalone = _option_patterns(letters)
    text = span.sub(" ", text)
    # A run of option letters opening the answer slot ("CE.") names those options, in order.
    run = re.match(rf"\s*[\(\[]?([{letters}]{{2,}})[\)\]]?(?![\w'’])", text) if slot else None
    if run and len(set(run[1])) == len(run[1]):
        return list(run[1])
    found = []
    for m in standalone.finditer(text):
        before = text[: m.start()]
        cued = _OPTION_CUE.search(before) or (slot and not before.strip())
        if m.group(1) == "A" and _ARTICLE_NEXT.match(text, m.end()) and not cued:
            continue
        found.append(m.group(1)[-1])
    return found


def _word_value(text: str) -> int:
    """The value of spelled-out number words: "one hundred fifty-seven thousand four hundred" -> 157400."""
    total = current = 0
    for word in re.split(r"[\s-]+", text.lower()):
        if word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        elif word in _SCALES:
            total += max(current, 1) * _SCALES[word]
            current = 0
    return total + current


def _word_number(m: re.Match) -> str:
    """A number-words match as a canonical number: decimals read digit by digit ("point six two"),
    or as one number ("point eighty-seven"); cents are hundredths."""
    value = Fraction(_word_value(m["whole"]))
    if m["point"]:
        words = re.split(r"[\s-]+", m["point"].lower())
        digits = "".join(str(_UNITS[w]) for w in words) if all(_UNITS.get(w, 10) < 10 for w in words) else None
        value += Fraction(Decimal("0." + (digits or str(_word_value(m["point"])))))
    elif m["cents"]:
        value += Fraction(_word_value(m["cents"]), 100)
    return canonical_value(value)


def _numbers(text: str) -> list[str]:
    found = [n for m in NUMBER.finditer(text) if (n := canonical_number(m[1], m[2], m[3])) is not None]
    if found:
        return found
    # Number words count only where a text has no numerals: "one of them" beside a 7 is not a 1.
    return [_word_number(m) for m in _NUMBER_WORDS.finditer(text)]


def _candidates(text: str, fmt: str, slot: bool = True) -> list[str]:
    """Every answer-shaped piece of ``text``, in order, already in canonical form.

    ``slot``: ``text`` starts where an answer is expected (after a trigger or statement).
    """
    letters = letters_of(fmt)
    if letters:
        return _choices(text, letters, slot)
    if fmt == "number":
        return _numbers(text)
    if fmt == "yes_no":
        return ["yes" if w.lower() in ("yes", "true") else "no" for w in _YES_NO.findall(text)]
    text = _SPELLED.sub(lambda m: "".join(_WORD.findall(m[0])), text)
    return [w.lower() for w in _WORD.findall(text)]


def _robust(text: str, fmt: str, chain: bool) -> str:
    if not chain:
        # The zero-shot text already is the answer slot: what comes first is what was asked for.
        found = _candidates(text, fmt)
        return found[0] if found else ""
    text = _NEXT_QUESTION.split(text, 1)[0]
    # The last statement wins (models correct themselves), unless it holds no answer.
    for statement in reversed(list(_STATEMENT.finditer(text))):
        found = _candidates(text[statement.end() :], fmt)
        if found:
            return found[0]
    # Without a statement a reasoning chain most often ends with its result.
    found = _candidates(text, fmt, slot=False)
    return found[-1] if found else ""


def answer_candidates(text: str, fmt: str) -> list[str]:
    """Every answer-shaped piece of ``text`` in order, in canonical form, as the robust style reads a
    reasoning chain with no answer statement (a bare "A" before a lower-case word is the article)."""
    check_format(fmt)
    return _candidates(text, fmt, slot=False)


def answer_slot(text: str) -> str:
    """The text after the last answer statement ("The answer is", "Answer:", ...) of ``text``, or the
    whole text when it holds none."""
    statements = list(_STATEMENT.finditer(text))
    return text[statements[-1].end() :] if statements else text


def option_named(text: str, choices: dict[str, str]) -> str:
    """The letter of the option ``text`` names by its text rather than its letter ("" when none): a
    model that copies exemplars answering with the option itself (Wei et al.'s date exemplars end
    "So the answer is 01/05/2015.") still chose one of the choices. After an answer statement the
    first option named wins, in a chain without one the last (as the robust style reads letters)."""
    text = _NEXT_QUESTION.split(text, 1)[0]
    statements = list(_STATEMENT.finditer(text))
    slot = text[statements[-1].end() :] if statements else text
    hits = [
        (m.start(), letter)
        for letter, option in choices.items()
        if option.strip()
        for m in re.finditer(rf"(?<!\w){re.escape(option.strip())}(?!\w)", slot, re.I)
    ]
    if not hits:
        return ""
    return (min(hits) if statements else max(hits))[1]


def is_correct(prediction: str, gold: str, fmt: str, style: str) -> bool:
    """Whether ``prediction`` (as extracted in ``style``) answers ``gold``.

    kojima: Kojima et al.'s test, exact string equality with the stripped gold string and no
    other normalisation. A GSM8K gold written "2,125" therefore never matches their cleansed
    "2125", and "18.00" never matches "18": that is their code's behaviour, kept on purpose.
    math (robust): math-verify's symbolic equivalence (``\\frac{1}{2}`` == 0.5, intervals, sets).
    robust: both sides normalised (``normalize_answer``); numbers compared by exact decimal
    value (18.00 == 18, "2,230" == "2230"); an empty or unparseable prediction is wrong.
    """
    check_format(fmt)
    _check_style(style)
    if style == "kojima":
        return prediction == gold.strip()
    if fmt == "math":
        return equivalent(prediction, gold)
    p, g = normalize_answer(prediction, fmt), normalize_answer(gold, fmt)
    if p is None or g is None:
        return False
    if fmt == "number":
        return Fraction(p) == Fraction(g)
    return p == g
