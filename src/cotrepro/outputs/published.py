"""The papers' numbers (config/published.csv), split by the study they come from.

Most rows are a paper's main tables: one accuracy per (source, model, task, method). Rows with a
``trigger`` are Kojima et al.'s trigger study (their Table 4): zero-shot CoT with another reasoning
trigger, many rows per (model, task, method); they go beside the trigger variants only, never into
the comparisons of methods. ``paths`` is the number of sampled paths of a self-consistency row.
"""

from __future__ import annotations

import pandas as pd


def _has_trigger(published: pd.DataFrame) -> pd.Series:
    if "trigger" not in published:
        return pd.Series(False, index=published.index)
    return published["trigger"].fillna("").astype(str).str.len() > 0


def main_rows(published: pd.DataFrame) -> pd.DataFrame:
    """The rows of the papers' main tables (the trigger study's left out)."""
    return published[~_has_trigger(published)]


def trigger_rows(published: pd.DataFrame) -> pd.DataFrame:
    """The trigger study's rows: source, model, task, trigger text, category (``note``), accuracy."""
    return published[_has_trigger(published)]
