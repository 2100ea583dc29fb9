"""The calibration table: a paper's own completions re-scored by the project, beside its published numbers.

For a published-completions model (``source: published``, Kojima et al.'s text-davinci-002 logs),
each (task, method) cell sets the paper's published accuracy beside the project's paper-faithful
scoring of the same completions and its robust scoring. The paper-faithful column must give the
published number back, to the decimal the paper prints; a cell that does not is flagged, with the
count of questions whose paper-faithful verdict differs from the one their log records.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from cotrepro import methods

COLUMNS = [
    "model",
    "task",
    "method",
    "n",
    "published",
    "paper-faithful",
    "robust",
    "matches",
    "disagreeing answers",
    "robust - paper-faithful",
]
"""Columns of results/calibration.csv (accuracies in percent)."""

PUBLISHED_SOURCE = "Kojima2022 Table 1"
"""The rows of config/published.csv the published completions are calibrated against."""


def _published(published: pd.DataFrame, model: str, task: str, method: str) -> tuple[float | None, int]:
    """The published accuracy of a cell and the number of decimals the paper prints it with."""
    rows = published[
        (published["source"] == PUBLISHED_SOURCE)
        & (published["model"] == model)
        & (published["task"] == task)
        & (published["method"] == method)
    ]
    if rows.empty:
        return None, 1
    text = str(rows.iloc[0]["accuracy"])
    return float(text), len(text.split(".", 1)[1]) if "." in text else 0


def cell(model: str, task: str, method: str, generations: list[dict], scores: list[dict], published: pd.DataFrame):
    """One row of the table from a unit's generation rows (with their log's verdicts) and score rows."""
    n = len(scores)
    faithful = 100 * sum(s["correct_kojima"] for s in scores) / n if n else float("nan")
    robust = 100 * sum(s["correct_robust"] for s in scores) / n if n else float("nan")
    theirs = {g["id"]: g["published"]["prediction"] == g["published"]["gold"] for g in generations if "published" in g}
    disagree = sum(bool(s["correct_kojima"]) != theirs[s["id"]] for s in scores if s["id"] in theirs)
    value, decimals = _published(published, model, task, method)
    matches = value is not None and round(faithful, decimals) == round(value, decimals)
    return {
        "model": model,
        "task": task,
        "method": method,
        "n": n,
        "published": value,
        "paper-faithful": round(faithful, 2),
        "robust": round(robust, 2),
        "matches": matches,
        "disagreeing answers": disagree,
        "robust - paper-faithful": round(robust - faithful, 2),
    }


def calibration_table(units: Iterable[tuple[dict, list[dict], list[dict]]], published: pd.DataFrame) -> pd.DataFrame:
    """The table from ``(key, generation rows, score rows)`` of the published-completions units,
    key = {model, task, method}; rows in the method registry's order within each task."""
    rows = [cell(**key, generations=g, scores=s, published=published) for key, g, s in units]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if frame.empty:
        return frame
    order = {m: i for i, m in enumerate(methods.all_keys())}
    return frame.sort_values(["model", "task", "method"], key=lambda c: c.map(order) if c.name == "method" else c)


def display(frame: pd.DataFrame) -> list[dict]:
    """The table as the report and the paper show it: one dict per cell with its texts and whether
    the paper-faithful number misses the published one (shown in red, with the disagreeing count)."""
    out = []
    for r in frame.to_dict("records"):
        missed = not r["matches"]
        out.append(
            {
                "task": r["task"],
                "method": methods.label(r["method"]),
                "n": int(r["n"]),
                "published": "" if pd.isna(r["published"]) else f"{r['published']:.1f}",
                "paper-faithful": f"{r['paper-faithful']:.1f}"
                + (f" ({int(r['disagreeing answers'])} answers disagree)" if missed else ""),
                "robust": f"{r['robust']:.1f}",
                "missed": missed,
            }
        )
    return out
