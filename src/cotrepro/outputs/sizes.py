"""Model sizes as readers see them: parameter counts in words and models smallest first.

The tables and the figures both order and label models this way; it sits apart from both so that
building a table does not import the plotting library.
"""

from __future__ import annotations

import pandas as pd


def human_count(n: float) -> str:
    """1.1B, 230K, 7.2B: parameter counts as people say them."""
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.0f}"


def models_by_size(df: pd.DataFrame) -> list[str]:
    """The models in ``df``, smallest first (ties by name)."""
    return df.sort_values(["parameters", "model"])["model"].drop_duplicates().tolist()
