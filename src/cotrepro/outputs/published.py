"""The papers' numbers (config/published.csv), split by the study they come from.

Most rows are a paper's main tables: one accuracy per (source, model, task, method). Rows with a
``trigger`` are Kojima et al.'s trigger study (their Table 4): zero-shot CoT with another reasoning
trigger, many rows per (model, task, method); they go beside the trigger variants only, never into
the comparisons of methods. Rows with a ``strategy`` are Wang et al.'s aggregation study (their
Table 1): the same sampled paths chosen among by each strategy of :mod:`cotrepro.scoring.choosers`
(and ``greedy``, the prompt decoded once); they go beside the choosers' table only. ``paths`` is the
number of sampled paths of a self-consistency row.
"""

from __future__ import annotations

import pandas as pd


def _filled(published: pd.DataFrame, column: str) -> pd.Series:
    """Whether each row has a value in ``column`` (False throughout when the column is absent)."""
    if column not in published:
        return pd.Series(False, index=published.index)
    return published[column].fillna("").astype(str).str.len() > 0


def main_rows(published: pd.DataFrame) -> pd.DataFrame:
    """The rows of the papers' main tables (the trigger and aggregation studies' left out)."""
    return published[~_filled(published, "trigger") & ~_filled(published, "strategy")]


def trigger_rows(published: pd.DataFrame) -> pd.DataFrame:
    """The trigger study's rows: source, model, task, trigger text, category (``note``), accuracy."""
    return published[_filled(published, "trigger")]


def strategy_rows(published: pd.DataFrame) -> pd.DataFrame:
    """The aggregation study's rows: source, model, task, method, paths, strategy, accuracy."""
    return published[_filled(published, "strategy")]
