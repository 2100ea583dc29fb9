"""Accuracy table: one row per model, task, method and extraction style, with a 95% interval."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from cotrepro.scoring.extract import STYLES
from cotrepro.scoring.metrics import wilson_interval

COLUMNS = [
    "model",
    "parameters",
    "revision",
    "task",
    "method",
    "style",
    "n",
    "correct",
    "accuracy",
    "ci_low",
    "ci_high",
    "mean_generated_tokens",
    "frac_hit_max_new_tokens",
    "frac_no_answer",
    "frac_over_context",
]
"""Columns of results/accuracy.csv; accuracy and its interval are percentages, the rest fractions."""


def summarize(scores: list[dict], *, model: str, task: str, method: str, meta: dict) -> list[dict]:
    """Rows of the accuracy table for one generation file's scores, one per extraction style (none
    for a unit that does not apply to the model, e.g. the chat format without a chat template)."""
    if meta.get("not_applicable"):
        return []
    n = len(scores)

    def frac(flag) -> float:
        return round(sum(bool(flag(s)) for s in scores) / n, 4) if n else float("nan")

    rows = []
    for style in STYLES:
        correct = sum(bool(s[f"correct_{style}"]) for s in scores)
        low, high = wilson_interval(correct, n)
        rows.append(
            {
                "model": model,
                "parameters": meta["backend"]["parameters"],
                "revision": meta["model"]["resolved_revision"],
                "task": task,
                "method": method,
                "style": style,
                "n": n,
                "correct": correct,
                "accuracy": round(100 * correct / n, 2) if n else float("nan"),
                "ci_low": round(100 * low, 2),
                "ci_high": round(100 * high, 2),
                "mean_generated_tokens": round(sum(s["generated_tokens"] for s in scores) / n, 2)
                if n
                else float("nan"),
                "frac_hit_max_new_tokens": frac(lambda s: s["hit_max_new_tokens"]),
                "frac_no_answer": frac(lambda s, style=style: not s[f"pred_{style}"]),
                "frac_over_context": frac(lambda s: s["over_context"]),
            }
        )
    return rows


def accuracy_table(parts: Iterable[tuple[dict, list[dict], dict]]) -> pd.DataFrame:
    """The whole table from ``(key, scores, meta)`` triples, key = {model, task, method}."""
    rows = [r for key, scores, meta in parts for r in summarize(scores, meta=meta, **key)]
    return pd.DataFrame(rows, columns=COLUMNS)
