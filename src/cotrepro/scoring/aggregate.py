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
    "mean_tokens_processed",
    "flops_per_question",
    "frac_hit_max_new_tokens",
    "frac_no_answer",
    "frac_over_context",
]
"""Columns of results/accuracy.csv; accuracy and its interval are percentages, the rest fractions.
``mean_tokens_processed``: the tokens a question's model passes processed (its prompt prefilled
once, every path's decode and a two-stage method's stage-2 prefill and decode;
:func:`cotrepro.scoring.score.row_tokens_processed`); ``flops_per_question``: about 2 x parameters
x that (verifier passes are not in this table)."""


def summarize(scores: list[dict], *, model: str, task: str, method: str, meta: dict) -> list[dict]:
    """Rows of the accuracy table for one generation file's scores, one per extraction style (none
    for a unit that does not apply to the model, e.g. the chat format without a chat template)."""
    if meta.get("not_applicable"):
        return []
    n = len(scores)
    processed = sum(s.get("tokens_processed", 0) for s in scores) / n if n else float("nan")
    parameters = meta["backend"]["parameters"]

    def frac(flag) -> float:
        return round(sum(bool(flag(s)) for s in scores) / n, 4) if n else float("nan")

    rows = []
    for style in STYLES:
        correct = sum(bool(s[f"correct_{style}"]) for s in scores)
        low, high = wilson_interval(correct, n)
        rows.append(
            {
                "model": model,
                "parameters": parameters,
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
                "mean_tokens_processed": round(processed, 2),
                "flops_per_question": float(f"{2 * parameters * processed:.4g}") if parameters else float("nan"),
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
