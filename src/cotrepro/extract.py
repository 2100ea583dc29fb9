"""Answer extraction from completions, in two styles kept side by side.

- ``kojima``: exactly the answer cleansing of Kojima et al. (2022)'s code, quirks included, and
  their correctness test (exact string equality with the stripped gold answer), so that our
  numbers compare with the paper's.
- ``robust``: the project's best extractor. It never sees the gold answer. It prefers an
  explicit answer statement, reads "$1,250.00" as 1250, treats letters as options only when
  they stand alone, and compares numbers by value.

``text`` is what follows the answer trigger for the zero-shot methods (the stage-2 completion
for zero-shot CoT) and the whole completion for the few-shot methods.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from cotrepro import METHODS
from cotrepro.prompts import FEW_SHOT_ANSWER_PREFIX as FEW_SHOT_TRIGGER
from cotrepro.prompts import FEW_SHOT_METHODS as _FEW_SHOT

STYLES = ("kojima", "robust")


def _letters(fmt: str) -> str | None:
    return fmt.split(":", 1)[1] if fmt.startswith("choice:") else None


def _check(fmt: str, method: str, style: str) -> None:
    letters = _letters(fmt)
    if not (fmt in ("number", "yes_no", "text") or (letters and letters.isalpha() and letters.isupper())):
        raise ValueError(f"unknown answer format {fmt!r}; allowed: number, yes_no, text, choice:LETTERS")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; allowed: {', '.join(METHODS)}")
    if style not in STYLES:
        raise ValueError(f"unknown extraction style {style!r}; allowed: {', '.join(STYLES)}")


def extract_answer(text: str, fmt: str, method: str, style: str) -> str:
    """The answer in ``text`` for answer format ``fmt``, or "" when there is none."""
    _check(fmt, method, style)
    return _kojima(text, fmt, method) if style == "kojima" else _robust(text, fmt, method)


# --- Kojima et al.'s answer cleansing -------------------------------------------------------

def _kojima(text: str, fmt: str, method: str) -> str:
    few_shot = method in _FEW_SHOT
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
    if pred.endswith("."):
        pred = pred[:-1]
    return pred


# --- the robust extractor -------------------------------------------------------------------

_STATEMENT = re.compile(r"(?:the\s+(?:final\s+)?answer\s+is|final\s+answer\s*:|answer\s*:)", re.I)
_BOXED = re.compile(r"\\boxed\{\s*([^{}]*)\}")
# A number, with an optional sign, currency symbol and thousands separators; not part of a word.
_NUMBER = re.compile(r"(?<![\w.])(-)?(?:[$€£]\s?)?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?![\d])")
_YES_NO = re.compile(r"\b(yes|no|true|false)\b", re.I)
_TEXT_TOKEN = re.compile(r"[A-Za-z]+")


def _canonical_number(sign: str | None, digits: str) -> str | None:
    try:
        value = Decimal(digits.replace(",", ""))
    except InvalidOperation:
        return None
    if sign:
        value = -value
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def _numbers(text: str) -> list[str]:
    return [n for n in (_canonical_number(m[1], m[2]) for m in _NUMBER.finditer(text)) if n is not None]


def _choice_candidates(text: str, letters: str) -> list[str]:
    """Standalone options, best kind first: "(C)", then "C)", then "C" as a word that is not an article."""
    cls = f"[{letters}]"
    kinds = [rf"\(({cls})\)", rf"(?<![\w(])({cls})\)", rf"(?<![\w(])({cls})(?![\w)'’])(?!\s+[a-z])"]
    for pattern in kinds:
        found = re.findall(pattern, text)
        if found:
            return found
    return []


def _candidates(text: str, fmt: str) -> list[str]:
    letters = _letters(fmt)
    if letters:
        return _choice_candidates(text, letters)
    if fmt == "number":
        return _numbers(text)
    if fmt == "yes_no":
        return ["yes" if w.lower() in ("yes", "true") else "no" for w in _YES_NO.findall(text)]
    return [t.lower() for t in _TEXT_TOKEN.findall(text)]


def _robust(text: str, fmt: str, method: str) -> str:
    boxed = _BOXED.findall(text)
    if boxed:
        found = _candidates(boxed[-1], fmt)
        if found:
            return found[0]
    statements = list(_STATEMENT.finditer(text))
    if statements:
        found = _candidates(text[statements[-1].end():], fmt)
        if found:
            return found[0]
    found = _candidates(text, fmt)
    if not found:
        return ""
    # Zero-shot text starts at the answer slot; a few-shot completion without a statement most
    # often ends with its result.
    return found[-1] if method in _FEW_SHOT else found[0]


def normalize_answer(answer: str, fmt: str) -> str | None:
    """Canonical form of an answer (gold or predicted) under the robust style; None if it does not parse.

    number -> "1250", "-5", "2.5"; yes_no -> "yes"/"no"; choice -> the letter; text -> lower case.
    """
    answer = answer.strip()
    letters = _letters(fmt)
    if fmt == "number":
        found = _numbers(answer)
        return found[0] if found else None
    if letters:
        bare = answer.strip("()[]. ").upper()
        return bare if len(bare) == 1 and bare in letters else None
    if fmt == "yes_no":
        word = answer.strip(" .!\"'").lower()
        return {"yes": "yes", "true": "yes", "no": "no", "false": "no"}.get(word)
    text = answer.strip(" \t\n.,!?;:\"'“”‘’").lower()
    return text or None


def is_correct(prediction: str, gold: str, fmt: str, style: str) -> bool:
    """Whether ``prediction`` answers ``gold``.

    kojima: Kojima et al.'s test, exact equality with the stripped gold string; a gold written
    "2,125" therefore never matches their cleansed "2125" (their code's behaviour, kept).
    robust: both normalised; numbers compared by exact decimal value (18.00 == 18 == "18").
    """
    if style == "kojima":
        return prediction == gold.strip()
    if style != "robust":
        raise ValueError(f"unknown extraction style {style!r}; allowed: {', '.join(STYLES)}")
    p, g = normalize_answer(prediction, fmt), normalize_answer(gold, fmt)
    if p is None or g is None:
        return False
    if fmt == "number":
        return Decimal(p) == Decimal(g)
    return p == g
