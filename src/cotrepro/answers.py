"""Answer formats and the canonical form of an answer in each: what a gold answer may look like
(the task records are checked against it before anything runs) and what the robust extraction
compares by.

Formats: ``number``, ``yes_no``, ``text`` (last-letter concatenation) and ``choice:LETTERS``
(e.g. ``choice:ABCDE``).
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

_FORMATS = ("number", "yes_no", "text", "math", "choice:LETTERS")


def letters_of(fmt: str) -> str | None:
    """The option letters of a ``choice:LETTERS`` format (None for the others)."""
    return fmt.split(":", 1)[1] if fmt.startswith("choice:") else None


def check_format(fmt: str) -> None:
    """Raise ValueError naming the allowed formats when ``fmt`` is none of them."""
    letters = letters_of(fmt)
    if not (fmt in _FORMATS[:4] or (letters and letters.isalpha() and letters.isupper())):
        raise ValueError(f"unknown answer format {fmt!r}; allowed: {', '.join(_FORMATS)}")


# A number, with an optional sign, currency symbol and thousands separators; not part of a word
# (an underscore, as in a blank "___8142___", is no part of one). "1, 2 and 3" stays a list: a
# thousands separator is a comma followed by exactly three digits. A comma followed by one or two
# digits that end the number ("2,5") is a decimal comma, unless a list goes on ("1,2,3").
# "3/4" is a fraction.
NUMBER = re.compile(
    r"(?<![^\W_])(?<![./])([-−])?(?:[$€£]\s?)?"
    r"((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+|,\d{1,2}(?![\d,]))?|\.\d+)"
    r"(?:/(\d+)(?![\d/]))?(?!\d)"
)


def _decimal(digits: str) -> Decimal:
    # "2,5" (a comma and one or two digits at the end) is a decimal comma; any other comma separates thousands.
    if re.fullmatch(r"\d+,\d{1,2}", digits):
        return Decimal(digits.replace(",", "."))
    return Decimal(digits.replace(",", ""))


def canonical_value(value: Fraction) -> str:
    """``18``, ``2.5``, ``-0.75``; a fraction with no finite decimal stays ``1/3``."""
    if value.denominator == 1:
        return str(value.numerator)  # also turns "-0" into "0"
    if all(p in (2, 5) for p in _prime_factors(value.denominator)):
        return format(Decimal(value.numerator) / Decimal(value.denominator), "f").rstrip("0")
    return f"{value.numerator}/{value.denominator}"


def _prime_factors(n: int) -> set[int]:
    out, p = set(), 2
    while p * p <= n:
        while n % p == 0:
            out.add(p)
            n //= p
        p += 1
    return out | ({n} if n > 1 else set())


def canonical_number(sign: str | None, digits: str, denominator: str | None = None) -> str | None:
    """The canonical text of a matched number (``NUMBER``'s sign, digits and denominator); None for
    a zero denominator."""
    value = Fraction(_decimal(digits))
    if denominator is not None:
        if int(denominator) == 0:
            return None
        value /= int(denominator)
    return canonical_value(-value if sign else value)


def normalize_answer(answer: str, fmt: str) -> str | None:
    """Canonical form of an answer (gold or predicted) under the robust style; None if it does not parse.

    - number: "$1,250.00" -> "1250", "18.00" -> "18", "2.50" -> "2.5", "2,5" -> "2.5", "3/4" -> "0.75",
      "1/3" -> "1/3", "-0" -> "0"; the whole string must be one number (currency symbols, spaces and
      one final period aside).
    - yes_no: "yes" or "no" ("True"/"False" count as yes/no).
    - choice:LETTERS: the upper-case letter, which must be one of LETTERS ("(b)" -> "B").
    - math: the LaTeX answer with its whitespace removed (a vote key; equivalence is math-verify's,
      :mod:`cotrepro.scoring.math_answers`).
    - text: lower case, without quotes, whitespace and punctuation at the ends.
    """
    check_format(fmt)
    answer = answer.strip()
    letters = letters_of(fmt)
    if fmt == "number":
        # "1, 2" is a list, not a decimal comma once the spaces are gone.
        m = None if re.search(r"\d,\s", answer) else NUMBER.fullmatch(re.sub(r"[\s$€£]", "", answer).removesuffix("."))
        return canonical_number(m[1], m[2], m[3]) if m else None
    if letters:
        bare = answer.strip("()[]. ").upper()
        return bare if len(bare) == 1 and bare in letters else None
    if fmt == "yes_no":
        word = answer.strip(" .!\"'").lower()
        return {"yes": "yes", "true": "yes", "no": "no", "false": "no"}.get(word)
    if fmt == "math":
        return re.sub(r"\s+", "", answer).strip("$").removesuffix(".") or None
    text = answer.strip(" \t\n.,!?;:\"'“”‘’").lower()
    return text or None
