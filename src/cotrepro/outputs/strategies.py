"""How the figures, the report and the paper name and colour the choosers of results/selection.csv
(:mod:`cotrepro.scoring.choosers`), and Wang et al.'s greedy row beside them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

LABELS = {
    "greedy": "greedy",
    "majority": "majority vote",
    "weighted_avg_unnormalized": "weighted avg, unnormalized",
    "weighted_avg_normalized": "weighted avg, normalized",
    "weighted_sum_unnormalized": "weighted sum, unnormalized",
    "weighted_sum_normalized": "weighted sum, normalized",
    "best_of_n": "best-of-N",
    "weighted_best_of_n": "weighted best-of-N",
    "coverage": "coverage (pass@k)",
}
"""Strategy key -> its name for readers, in display order (Wang et al.'s Table 1 order, then the
verifier choosers, then the oracle)."""
SHORT_LABELS = {
    "greedy": "greedy",
    "weighted_avg_unnormalized": "w. avg, unnorm.",
    "weighted_avg_normalized": "w. avg, norm.",
    "weighted_sum_unnormalized": "w. sum, unnorm.",
    "weighted_sum_normalized": "w. sum, norm.",
    "majority": "majority",
}
"""Wang et al.'s strategies as the headers of a table with a column each (weighted average or sum,
unnormalized or normalized; their unweighted sum is the majority vote)."""
COLORS = {
    "majority": "#0072B2",
    "weighted_avg_unnormalized": "#E69F00",
    "weighted_avg_normalized": "#F0E442",
    "weighted_sum_unnormalized": "#CC79A7",
    "weighted_sum_normalized": "#D55E00",
    "best_of_n": "#009E73",
    "weighted_best_of_n": "#56B4E9",
    "coverage": "#000000",
}
"""One colour a strategy in every figure (Okabe-Ito, told apart by colour-blind readers too)."""
VERIFIER_LINES = ("-", "--", "-.", ":")
"""The line style of a verifier's choosers, by the verifier's position in the run (sorted)."""


def label(strategy: str, verifier: str = "") -> str:
    """``best-of-N (prm-tiny)``: a strategy's name, with the verifier that scored its paths."""
    return LABELS.get(strategy, strategy) + (f" ({verifier})" if verifier else "")


def order(strategy: str) -> int:
    """A strategy's place in :data:`LABELS` (unknown ones last)."""
    keys = list(LABELS)
    return keys.index(strategy) if strategy in keys else len(keys)


def short_method(label: str) -> str:
    """A self-consistency method's label with "+ SC" for "+ self-consistency", where columns are narrow."""
    return label.replace(" + self-consistency", " + SC")


def read_selection(path: Path) -> pd.DataFrame:
    """results/selection.csv with ``verifier`` as text ("" for the choosers that need none; pandas
    would read an all-empty column as numbers)."""
    return pd.read_csv(path, dtype={"verifier": str}).fillna({"verifier": ""})
