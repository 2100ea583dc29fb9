"""What a generations file's rows hold, read the same way by the runner's statistics and by scoring.

A row is one question: ``id``, ``key``, the model input ``prompt`` and the first stage's
``completion``, ``prompt_tokens``, ``generated_tokens``, ``hit_max_new_tokens``, ``stop_reason``,
``over_context``; a two-stage method adds the same fields prefixed ``stage2_``. A self-consistency
row keeps ``prompt``, ``prompt_tokens`` and ``over_context`` once and lists its sampled ``paths``,
each with the completion fields (and a two-stage method's ``stage2_`` fields) of one path.
"""

from __future__ import annotations


def row_generated_tokens(row: dict) -> int:
    """Tokens a row's generation produced: both stages, every sampled path."""
    parts = row.get("paths", [row])
    return sum(p["generated_tokens"] + p.get("stage2_generated_tokens", 0) for p in parts)


def row_over_context(row: dict) -> bool:
    """Whether any model input of the row was longer than the model's context."""
    parts = row.get("paths", [row])
    return bool(row["over_context"]) or any(p.get("stage2_over_context") for p in parts)
