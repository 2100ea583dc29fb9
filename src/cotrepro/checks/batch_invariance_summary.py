"""Batch-size invariance, counted: the batch-1 rows (:mod:`cotrepro.checks.batch_invariance`)
against the batched run's, as differing completions and as answers that flip under each extraction
style (the real extractor, :func:`cotrepro.scoring.score.predict`)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from cotrepro.scoring.extract import STYLES
from cotrepro.scoring.score import predict

COLUMNS = [
    "model",
    "task",
    "method",
    "n",
    "batch_size",
    "final_batch_size",
    "differing_completions",
    *(f"flipped_{s}" for s in STYLES),
    "earliest_differing_token",
]
"""The columns of results/batch_invariance.csv, one row a model."""


def flips(one: dict, batched: dict, fmt: str, method: str) -> dict[str, tuple[str, str]]:
    """Per extraction style whose answer differs between the two rows of one question:
    (batch-1 answer, batched answer)."""
    pairs = {s: (predict(one, fmt, method, s), predict(batched, fmt, method, s)) for s in STYLES}
    return {s: p for s, p in pairs.items() if p[0] != p[1]}


def summarize(
    model: str, task: str, method: str, rows: Sequence[dict], batched_rows: Sequence[dict], records, meta: dict
) -> dict:
    """One model's measurement: how many of the ``rows`` (batch 1, each with its comparison) differ
    from the batched run's in text and in each style's answer, the batch size the batched run used
    (from its metadata ``meta``), and per differing question the details."""
    batched = {r["id"]: r for r in batched_rows}
    formats = {r["id"]: r["answer_format"] for r in records}
    items = []
    for row in rows:
        cmp = row["batch_invariance"]
        flipped = flips(row, batched[row["id"]], formats[row["id"]], method)
        if cmp["differing_fields"] or flipped:
            items.append({"id": row["id"], **cmp, "flipped": flipped})
    backend, stats = meta["backend"], meta["stats"]
    return {
        "model": model,
        "task": task,
        "method": method,
        "n": len(rows),
        "batch_size_setting": backend["batch_size_setting"],
        "batch_size": backend["batch_size"],
        # After out-of-memory halvings, if any (the batches of one job shrink, never grow back).
        "final_batch_size": backend["final_batch_size"],
        # Rows taken from an earlier run were generated at that run's batch size, which no file records.
        "batched_rows_from_earlier_runs": stats["reused_rows"] + stats["resumed_rows"],
        "differing_completions": sum(i["completion_differs"] for i in items),
        "differing_rows": sum(bool(i["differing_fields"]) for i in items),
        "flipped": {s: sum(s in i["flipped"] for i in items) for s in STYLES},
        "items": items,
    }


def table(summaries: Sequence[dict]) -> pd.DataFrame:
    """results/batch_invariance.csv: one row a model (:data:`COLUMNS`)."""
    rows = [
        {
            **{k: s[k] for k in ("model", "task", "method", "n", "batch_size", "final_batch_size")},
            "differing_completions": s["differing_completions"],
            **{f"flipped_{st}": s["flipped"][st] for st in STYLES},
            "earliest_differing_token": min(
                (i["first_differing_token"] for i in s["items"] if i["first_differing_token"] is not None),
                default=None,
            ),
        }
        for s in summaries
    ]
    return pd.DataFrame(rows, columns=COLUMNS).astype({"earliest_differing_token": "Int64"})
