"""What a generations file's rows hold, read the same way by the runner's statistics and by scoring.

A row is one question: ``id``, ``key``, the model input ``prompt`` and the first stage's
``completion``, ``prompt_tokens``, ``generated_tokens``, ``hit_max_new_tokens``, ``stop_reason``,
``over_context``; a two-stage method adds the same fields prefixed ``stage2_``. A self-consistency
row keeps ``prompt``, ``prompt_tokens`` and ``over_context`` once and lists its sampled ``paths``,
each with the completion fields (and a two-stage method's ``stage2_`` fields) of one path.

``logprob`` (and ``stage2_logprob``): the summed log-probability, under the model's own unwarped
next-token distribution, of the tokens the completion kept (``generated_tokens`` of them, counted
after the cut at a stop sequence; the end-of-sequence token included where the row ended so). The
in-process backend writes it on every row and every path; a served backend where the server
returns log-probabilities; the from-scratch backend writes none (its generate loop returns token
ids only), and a row without it has no ``logprob`` field. It is a float sum whose last digits
depend on the batch layout (about 1e-6 apart between batch sizes), so comparisons that must be
exact compare texts, token counts and stop reasons exactly and ``logprob`` within
1e-4 (tests/models/test_engine.py's ``same_completions``).

A verifier's scores for a unit (written by the ``verify`` job, read by the ``selection`` rule) live
in ``results/verifications/{verifier}/{model}/{task}/{method}.jsonl``, one row per question:
``{"id", "key" (the generation row's key), "scores" (one float per path in path order; a greedy
row has a one-element list), "tokens" (tokens the verifier processed for the row)}``, beside
``{method}.meta.json`` holding at least ``{"verifier", "kind" ("orm", "prm" or "self"),
"parameters"}``. Scores whose key is not the generation row's are stale and refused.
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
