"""results/selection.csv: every chooser (:mod:`cotrepro.scoring.choosers`) on the same stored paths of
each self-consistency unit, at k' = 1, 2, 4, ... k paths, with its cost in tokens and FLOPs; and
results/selection_choices.jsonl: each chooser's choice from all of a question's paths, so that every
choice can be checked by hand against the score rows and verification files it was made from.

Verifier scores come from the verification files of the contract in :mod:`cotrepro.rows`; a file
whose row keys are not the score rows' (scores of other generations) is refused, never used.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from cotrepro.scoring.choosers import accuracy_by_strategy, question_choices
from cotrepro.scoring.extract import STYLES
from cotrepro.scoring.self_consistency import PATHS_COLUMNS, RESAMPLES

SELECTION_COLUMNS = [
    *PATHS_COLUMNS[:4],
    "strategy",
    "verifier",
    *PATHS_COLUMNS[4:],
    "mean_tokens_processed",
    "flops_per_question",
]
"""Columns of results/selection.csv (accuracy and its interval in percent)."""

CHOICE_FIELDS = ("model", "task", "method", "style", "id", "strategy", "verifier", "choice", "correct")
"""Fields of a results/selection_choices.jsonl row: one strategy's choice from all of a question's
paths ("" when no path answered) and whether it is right (the verdict of the paths that gave it)."""


class StaleVerification(ValueError):
    """A verification file scoring other generations than the unit's scores."""


def verifier_scores(scores: Sequence[dict], verifications: Iterable[tuple[Path, dict, list[dict]]]) -> dict:
    """verifier -> question id -> per-path scores, from ``(path, meta, rows)`` verification files of
    one unit; a row whose key is not its question's score-row key is a :class:`StaleVerification`
    naming the file."""
    keys = {s["id"]: s.get("key") for s in scores}
    out: dict[str, dict[str, list[float]]] = {}
    for path, meta, rows in verifications:
        stale = [r["id"] for r in rows if keys.get(r["id"]) != r["key"]]
        if stale:
            raise StaleVerification(
                f"{path}: {len(stale)} row(s) score other generations than the unit's ({', '.join(stale[:5])}); "
                "delete the file so the verify job scores the current paths"
            )
        out[meta["verifier"]] = {r["id"]: r["scores"] for r in rows}
    return out


def _verifier_flops(verifications: Sequence[tuple[Path, dict, list[dict]]], n: int) -> float:
    """Verifier FLOPs per question: about 2 x its parameters x the tokens it processed."""
    return sum(2 * meta["parameters"] * sum(r["tokens"] for r in rows) / n for _, meta, rows in verifications)


def selection_table(parts, *, resamples: int = RESAMPLES, seed: int = 0):
    """results/selection.csv as a DataFrame, from ``(key, score rows, parameters, verifications)``
    of the self-consistency units (key = {model, task, method}; parameters: the generating model's;
    verifications: ``(path, meta, rows)`` files). At k' of k paths a question costs its prompt's
    prefill once and k'/k of its paths' decoding (the expectation over subsets); verifier passes at
    k'/k of theirs too."""
    import pandas as pd

    rows = []
    for key, scores, parameters, verifications in parts:
        if not scores:
            continue
        verifications = list(verifications)
        by_verifier = verifier_scores(scores, verifications)
        n, k = len(scores), min(len(s["paths_pred_kojima"]) for s in scores)
        prompt = sum(s["prompt_tokens"] for s in scores) / n
        paths_cost = sum(s["tokens_processed"] for s in scores) / n - prompt
        generated = sum(s["generated_tokens"] for s in scores) / n
        checked = _verifier_flops(verifications, n)
        for style in STYLES:
            for point in accuracy_by_strategy(scores, style, by_verifier, resamples=resamples, seed=seed):
                share = point["paths"] / k
                processed = prompt + paths_cost * share
                flops = 2 * parameters * processed + (checked * share if point["verifier"] else 0.0)
                rows.append(
                    {
                        **key,
                        "style": style,
                        **point,
                        "mean_generated_tokens": round(generated * share, 2),
                        "mean_tokens_processed": round(processed, 2),
                        "flops_per_question": float(f"{flops:.4g}") if parameters else float("nan"),
                    }
                )
    return pd.DataFrame(rows, columns=SELECTION_COLUMNS)


def choice_rows(parts) -> list[dict]:
    """results/selection_choices.jsonl's rows, from the same ``(key, score rows, parameters,
    verifications)`` parts as :func:`selection_table`: per question, extraction style and strategy
    (with its verifier), :func:`cotrepro.scoring.choosers.question_choices` over all its paths. A
    choice is right when the paths that gave it are (they share the answer, so the verdict)."""
    rows = []
    for key, scores, _parameters, verifications in parts:
        by_verifier = verifier_scores(scores, list(verifications))
        for style in STYLES:
            for s in scores:
                answers, correct = s[f"paths_pred_{style}"], s[f"paths_correct_{style}"]
                per = {v: by_id[s["id"]] for v, by_id in by_verifier.items() if s["id"] in by_id}
                for name, choice in question_choices(s, style, per).items():
                    strategy, _, verifier = name.partition(":")
                    right = any(bool(c) for a, c in zip(answers, correct, strict=True) if choice and a == choice)
                    rows.append(
                        {
                            **key,
                            "style": style,
                            "id": s["id"],
                            "strategy": strategy,
                            "verifier": verifier,
                            "choice": choice,
                            "correct": right,
                        }
                    )
    return rows
