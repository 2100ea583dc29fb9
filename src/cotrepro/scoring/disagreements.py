"""Where the two extraction styles disagree, item by item, and why.

An item disagrees when its paper-faithful (``kojima``) and ``robust`` predictions differ as
strings (a score row's ``pred_kojima != pred_robust``). Each such item gets exactly one cause,
decided from the two predictions and the text the extractors read, by the first rule that holds:

1. ``formatting``: both styles found an answer and it is the same value written differently:
   numbers equal by exact value ("1,000" / "1000", "5.0" / "5", "$5" / "5", "18.00" / "18");
   for the other formats the same answer after the robust normalisation (letter case, "True" / "yes").
2. ``letter_vs_text``: a multiple-choice item whose answer slot (the text after the last answer
   statement such as "The answer is", else the whole text) names an option by its text ("the answer
   is blotter") but not by its letter: one style read a letter from elsewhere (Kojima et al.'s
   cleansing takes any capital option letter, even the "B" of "Blotter"), the other another or none.
3. ``no_answer``: one style found no answer at all.
4. ``first_vs_last``: both answers occur among the answer-shaped pieces of the text (as the robust
   style reads a chain: every number, yes/no, option letter or word, in order): the styles took
   different matches of the same text (one the first after a statement, the other the last of the
   chain, or a later statement).
5. ``other``: anything else, e.g. the styles read the text differently ("2,5" is 2.5 to one and
   25 to the other) or the paper-faithful style kept a whole phrase ("nykaistheanswer").

The text read is the completion (few-shot methods) or the stage-2 completion (zero-shot methods);
for zero-shot CoT, when the robust style found nothing in stage 2 and fell back on the stage-1
reasoning (:func:`cotrepro.scoring.score.predict`), the stage-1 completion is read too.

A self-consistency item's predictions are majority votes: each path whose two answers differ is
classified as above, and the item takes its paths' most frequent cause (a tie goes to the earlier
cause in the list); the excerpt is that cause's first path's.

Everything is deterministic: the same files give the same rows, in the score files' order.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from fractions import Fraction

import pandas as pd

from cotrepro import methods
from cotrepro.answers import normalize_answer
from cotrepro.scoring.extract import answer_candidates, answer_slot, extract_answer
from cotrepro.scoring.score import answer_text

CAUSES = {
    "formatting": "number format",
    "letter_vs_text": "letter vs text",
    "no_answer": "no answer",
    "first_vs_last": "first vs last",
    "other": "other",
}
"""Cause key -> how tables name it, in the order the rules are tried (and tables show them)."""
COLUMNS = [
    "model",
    "task",
    "method",
    "id",
    "gold",
    "pred_kojima",
    "pred_robust",
    "correct_kojima",
    "correct_robust",
    "cause",
    "excerpt",
]
"""The columns of results/extraction_disagreements.csv."""
EXCERPT_WIDTH = 60
"""Characters of context shown on each side of an answer in an excerpt."""


def _same(a: str, b: str, fmt: str) -> bool:
    """Whether two answers are the same under the robust normalisation (numbers by exact value)."""
    na, nb = normalize_answer(a, fmt), normalize_answer(b, fmt)
    if na is None or nb is None:
        return False
    return Fraction(na) == Fraction(nb) if fmt == "number" else na == nb


def _names_option_by_text(slot: str, fmt: str, options: dict[str, str]) -> bool:
    """Whether ``slot`` names an option by its text (whole words, any case) and not by its letter."""
    letters = set(answer_candidates(slot, fmt))
    return any(
        letter not in letters and re.search(rf"(?<!\w){re.escape(text.strip())}(?!\w)", slot, re.I)
        for letter, text in options.items()
        if text.strip()
    )


def classify(text: str, kojima: str, robust: str, fmt: str, options: dict[str, str] | None = None) -> str:
    """The cause (a key of CAUSES) of one disagreement: ``kojima`` and ``robust`` are the two styles'
    predictions from ``text``, the text they read; ``options`` a choice item's letter -> option text.
    Raises ValueError when the predictions do not differ."""
    if kojima == robust:
        raise ValueError(f"the two styles agree ({kojima!r}): not a disagreement")
    if kojima and robust and _same(kojima, robust, fmt):
        return "formatting"
    if fmt.startswith("choice:") and options and _names_option_by_text(answer_slot(text), fmt, options):
        return "letter_vs_text"
    if not kojima or not robust:
        return "no_answer"
    found = answer_candidates(text, fmt)
    if any(_same(kojima, c, fmt) for c in found) and any(_same(robust, c, fmt) for c in found):
        return "first_vs_last"
    return "other"


def text_read(row: dict, method: str, fmt: str) -> str:
    """The text the two styles read from one generation row (or one self-consistency path merged
    into its row): see the module docstring."""
    text = answer_text(row, method)
    if methods.get(method).two_stage and not extract_answer(text, fmt, method, "robust"):
        # score.predict's fallback: the robust style read the stage-1 reasoning as well.
        return f"{row['completion']}\n{text}"
    return text


def _span(text: str, answer: str) -> tuple[int, int] | None:
    """Where ``answer`` first stands in ``text`` as a whole word, else anywhere; None when absent."""
    for pattern in (rf"(?<!\w){re.escape(answer)}(?!\w)", re.escape(answer)):
        if m := re.search(pattern, text, re.I):
            return m.span()
    return None


def excerpt(text: str, answers: Sequence[str], width: int = EXCERPT_WIDTH) -> str:
    """``text`` around where the ``answers`` first stand, ``width`` characters each side, whitespace
    collapsed, "…" where cut; two distant answers give two pieces. Where no answer stands in the text
    as written (a canonical "1250" read from "$1,250.00"), the piece is around the answer slot."""
    spans = sorted(s for a in answers if a and (s := _span(text, a)))
    if not spans:
        anchor = len(text) - len(answer_slot(text))
        spans = [(anchor, anchor)]
    windows: list[list[int]] = []
    for start, end in spans:
        lo, hi = max(0, start - width), min(len(text), end + width)
        if windows and lo <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], hi)
        else:
            windows.append([lo, hi])
    pieces = " … ".join(" ".join(text[lo:hi].split()) for lo, hi in windows)
    return ("…" if windows[0][0] > 0 else "") + pieces + ("…" if windows[-1][1] < len(text) else "")


def item_cause(row: dict, score: dict, method: str, options: dict[str, str] | None = None) -> tuple[str, str]:
    """(cause, excerpt) of one disagreeing item: its generation row and its score row."""
    fmt = score["answer_format"]
    if not methods.get(method).samples:
        text = text_read(row, method, fmt)
        k, r = score["pred_kojima"], score["pred_robust"]
        return classify(text, k, r, fmt, options), excerpt(text, [k, r])
    found = []
    for i, (path, k, r) in enumerate(
        zip(row["paths"], score["paths_pred_kojima"], score["paths_pred_robust"], strict=True)
    ):
        if k != r:
            text = text_read({**row, **path}, method, fmt)
            found.append((classify(text, k, r, fmt, options), f"path {i + 1}: {excerpt(text, [k, r])}"))
    counts = Counter(cause for cause, _ in found)
    # Most paths first; a tie goes to the cause tried first.
    cause = min(counts, key=lambda c: (-counts[c], list(CAUSES).index(c)))
    return cause, next(e for c, e in found if c == cause)


def unit_disagreements(
    generations: Sequence[dict], scores: Sequence[dict], records: Sequence[dict], method: str
) -> list[dict]:
    """The disagreeing items of one (model, task, method) unit, in score-file order: id, gold, both
    predictions, both correctness flags, cause and excerpt."""
    rows = {r["id"]: r for r in generations}
    options = {r["id"]: r.get("choices") for r in records}
    out = []
    for s in scores:
        if s["pred_kojima"] == s["pred_robust"]:
            continue
        cause, text = item_cause(rows[s["id"]], s, method, options.get(s["id"]))
        out.append(
            {
                "id": s["id"],
                "gold": s["gold"],
                **{k: s[k] for k in ("pred_kojima", "pred_robust", "correct_kojima", "correct_robust")},
                "cause": cause,
                "excerpt": text,
            }
        )
    return out


def disagreement_table(
    units: Iterable[tuple[tuple[str, str, str], Sequence[dict], Sequence[dict], Sequence[dict]]],
) -> pd.DataFrame:
    """Every disagreeing item of every unit, one row each (COLUMNS). ``units`` yields
    ((model, task, method), generation rows, score rows, task records)."""
    rows = [
        {"model": model, "task": task, "method": method, **item}
        for (model, task, method), generations, scores, records in units
        for item in unit_disagreements(generations, scores, records, method)
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def read_disagreements(path) -> pd.DataFrame:
    """results/extraction_disagreements.csv as written: every text column a string ("" where a style
    found no answer, not NaN; ids and gold numbers not turned into numbers), the verdicts booleans."""
    text = [c for c in COLUMNS if not c.startswith("correct_")]
    return pd.read_csv(path, dtype=dict.fromkeys(text, str), keep_default_na=False).astype(
        {"correct_kojima": bool, "correct_robust": bool}
    )
