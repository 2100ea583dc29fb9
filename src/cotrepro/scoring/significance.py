"""Paired comparisons of prompting methods: McNemar's exact test on the same questions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from cotrepro import methods
from cotrepro.scoring.extract import STYLES
from cotrepro.scoring.metrics import mcnemar_exact

ALPHA = 0.05
COLUMNS = [
    "model",
    "task",
    "style",
    "method_a",
    "method_b",
    "n",
    "correct_a",
    "correct_b",
    "only_a",
    "only_b",
    "p_value",
    "significant",
]


def compare(scores_a: Sequence[dict], scores_b: Sequence[dict], style: str) -> dict:
    """Discordant counts and McNemar's exact p-value for two methods' scores on the same questions.

    Fails when the two score files do not cover the same question ids: a paired test on
    different questions would be meaningless.
    """
    a = {s["id"]: bool(s[f"correct_{style}"]) for s in scores_a}
    b = {s["id"]: bool(s[f"correct_{style}"]) for s in scores_b}
    if set(a) != set(b):
        raise ValueError(f"paired test needs the same questions; {len(set(a) ^ set(b))} ids differ")
    only_a = sum(a[i] and not b[i] for i in a)
    only_b = sum(b[i] and not a[i] for i in a)
    p = mcnemar_exact(only_a, only_b)
    return {
        "n": len(a),
        "correct_a": sum(a.values()),
        "correct_b": sum(b.values()),
        "only_a": only_a,
        "only_b": only_b,
        "p_value": round(p, 6),
        "significant": p < ALPHA,
    }


def significance_table(scores: Mapping[tuple[str, str, str], Sequence[dict]]) -> pd.DataFrame:
    """Every paired test available in ``scores`` (``(model, task, method) -> score rows``), per style,
    for the pairs the methods declare (:func:`cotrepro.methods.pairs`, each variant against its method
    included). A unit with no rows (one that does not apply to the model) is in no test."""
    rows = []
    pairs = methods.pairs({m for _, _, m in scores})
    for model, task in sorted({(m, t) for m, t, _ in scores}):
        for method_a, method_b in pairs:
            if not (scores.get((model, task, method_a)) and scores.get((model, task, method_b))):
                continue
            for style in STYLES:
                rows.append(
                    {
                        "model": model,
                        "task": task,
                        "style": style,
                        "method_a": method_a,
                        "method_b": method_b,
                        **compare(scores[model, task, method_a], scores[model, task, method_b], style),
                    }
                )
    return pd.DataFrame(rows, columns=COLUMNS)
