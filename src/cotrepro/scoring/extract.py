"""Answer extraction from completions, in two styles kept side by side.

- ``kojima``: exactly the answer cleansing of Kojima et al. (2022)'s code (``answer_cleansing``
  in their ``utils.py``), quirks included, and their correctness test (exact string equality
  with the stripped gold answer), so that our numbers compare with the paper's.
- ``robust``: the project's best extractor. It never sees the gold answer. It prefers an
  explicit answer statement, reads "$1,250.00" as 1250, treats letters as options only when
  they stand alone, and compares numbers by exact decimal value.

``text`` is what follows the answer trigger for the zero-shot methods (the stage-2 completion
for zero-shot CoT) and the whole completion for the few-shot methods.

Answer formats: ``number``, ``yes_no``, ``text`` (last-letter concatenation) and
``choice:LETTERS`` (e.g. ``choice:ABCDE``).
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache

from cotrepro import methods
from cotrepro.prompts import FEW_SHOT_ANSWER_PREFIX as FEW_SHOT_TRIGGER

STYLES = ("kojima", "robust")
_FORMATS = ("number", "yes_no", "text", "choice:LETTERS")


def _letters(fmt: str) -> str | None:
    return fmt.split(":", 1)[1] if fmt.startswith("choice:") else None


def _check_format(fmt: str) -> None:
    letters = _letters(fmt)
    if not (fmt in _FORMATS[:3] or (letters and letters.isalpha() and letters.isupper())):
        raise ValueError(f"unknown answer format {fmt!r}; allowed: {', '.join(_FORMATS)}")


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
    _check_format(fmt)
    _check_style(style)
    return _kojima(text, fmt, chain) if style == "kojima" else _robust(text, fmt, chain)


# --- Kojima et al.'s answer cleansing -------------------------------------------------------


def _kojima(text: str, fmt: str, few_shot: bool) -> str:
    if few_shot:
        parts = text.split(FEW_SHOT_TRIGGER)
        answer_flag = len(parts) > 1
        text = parts[-1]
    letters = _letters(fmt)
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
# A number, with an optional sign, currency symbol and thousands separators; not part of a word.
# "1, 2 and 3" stays a list: a separator is a comma followed by exactly three digits.
_NUMBER = re.compile(r"(?<![\w.])([-−])?(?:[$€£]\s?)?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?!\d)")
_YES_NO = re.compile(r"\b(yes|no|true|false)\b", re.I)
_WORD = re.compile(r"[^\W\d_]+")


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
    found = []
    for m in standalone.finditer(text):
        before = text[: m.start()]
        cued = _OPTION_CUE.search(before) or (slot and not before.strip())
        if m.group(1) == "A" and _ARTICLE_NEXT.match(text, m.end()) and not cued:
            continue
        found.append(m.group(1)[-1])
    return found


def _canonical_number(sign: str | None, digits: str) -> str:
    value = Decimal(digits.replace(",", ""))
    if sign:
        value = -value
    if value == value.to_integral_value():
        return str(int(value))  # also turns "-0" into "0"
    return format(value.normalize(), "f")


def _numbers(text: str) -> list[str]:
    return [_canonical_number(m[1], m[2]) for m in _NUMBER.finditer(text)]


def _candidates(text: str, fmt: str, slot: bool = True) -> list[str]:
    """Every answer-shaped piece of ``text``, in order, already in canonical form.

    ``slot``: ``text`` starts where an answer is expected (after a trigger or statement).
    """
    letters = _letters(fmt)
    if letters:
        return _choices(text, letters, slot)
    if fmt == "number":
        return _numbers(text)
    if fmt == "yes_no":
        return ["yes" if w.lower() in ("yes", "true") else "no" for w in _YES_NO.findall(text)]
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


def normalize_answer(answer: str, fmt: str) -> str | None:
    """Canonical form of an answer (gold or predicted) under the robust style; None if it does not parse.

    - number: "$1,250.00" -> "1250", "18.00" -> "18", "2.50" -> "2.5", "-0" -> "0"; the whole
      string must be one number (currency symbols, spaces and one final period aside).
    - yes_no: "yes" or "no" ("True"/"False" count as yes/no).
    - choice:LETTERS: the upper-case letter, which must be one of LETTERS ("(b)" -> "B").
    - text: lower case, without quotes, whitespace and punctuation at the ends.
    """
    _check_format(fmt)
    answer = answer.strip()
    letters = _letters(fmt)
    if fmt == "number":
        m = _NUMBER.fullmatch(re.sub(r"[\s$€£]", "", answer).removesuffix("."))
        return _canonical_number(m[1], m[2]) if m else None
    if letters:
        bare = answer.strip("()[]. ").upper()
        return bare if len(bare) == 1 and bare in letters else None
    if fmt == "yes_no":
        word = answer.strip(" .!\"'").lower()
        return {"yes": "yes", "true": "yes", "no": "no", "false": "no"}.get(word)
    text = answer.strip(" \t\n.,!?;:\"'“”‘’").lower()
    return text or None


def is_correct(prediction: str, gold: str, fmt: str, style: str) -> bool:
    """Whether ``prediction`` (as extracted in ``style``) answers ``gold``.

    kojima: Kojima et al.'s test, exact string equality with the stripped gold string and no
    other normalisation. A GSM8K gold written "2,125" therefore never matches their cleansed
    "2125", and "18.00" never matches "18": that is their code's behaviour, kept on purpose.
    robust: both sides normalised (``normalize_answer``); numbers compared by exact decimal
    value (18.00 == 18, "2,230" == "2230"); an empty or unparseable prediction is wrong.
    """
    _check_format(fmt)
    _check_style(style)
    if style == "kojima":
        return prediction == gold.strip()
    p, g = normalize_answer(prediction, fmt), normalize_answer(gold, fmt)
    if p is None or g is None:
        return False
    if fmt == "number":
        return Decimal(p) == Decimal(g)
    return p == g
