"""Turn generation rows into score rows: the answer extracted in each style, gold, correctness."""

from __future__ import annotations

from collections.abc import Sequence

from cotrepro import methods
from cotrepro.rows import row_generated_tokens, row_over_context
from cotrepro.scoring.extract import STYLES, extract_answer, extract_from, is_correct, option_named
from cotrepro.scoring.self_consistency import majority_vote


def path_cost(part: dict) -> int:
    """Tokens one path (or a greedy row) processed beyond the shared question prefill: its
    generated tokens and, for a two-stage method, the stage-2 prompt's prefill and generated tokens
    (the stage-2 prompt holds the path's own reasoning, so it is prefilled per path)."""
    return part["generated_tokens"] + part.get("stage2_prompt_tokens", 0) + part.get("stage2_generated_tokens", 0)


def row_tokens_processed(row: dict) -> int:
    """Tokens a row's model passes processed: the question's prompt prefilled once (self-consistency's
    paths share it), then every path's :func:`path_cost`."""
    return row.get("prompt_tokens", 0) + sum(path_cost(p) for p in row.get("paths", [row]))


def path_logprob(part: dict) -> tuple[float | None, int]:
    """A path's summed log-probability over both stages' kept tokens (None when the backend wrote
    none) and the number of tokens it is summed over (both stages' generated tokens)."""
    tokens = part["generated_tokens"] + part.get("stage2_generated_tokens", 0)
    stages = [part.get("logprob")] + ([part.get("stage2_logprob")] if "stage2_completion" in part else [])
    return (None if any(s is None for s in stages) else round(sum(stages), 6)), tokens


def answer_text(row: dict, method: str) -> str:
    """The text the answer is read from: the stage-2 completion of a two-stage method, else the completion."""
    return row["stage2_completion"] if methods.get(method).two_stage else row["completion"]


def predict(row: dict, fmt: str, method: str, style: str, choices: dict[str, str] | None = None) -> str:
    """The extracted answer of one generation row ("" when none).

    The robust style falls back to the stage-1 reasoning of zero-shot CoT when the stage-2 answer
    slot holds no answer (a model that ends its reasoning with "The answer is 18." and then
    rambles), and, for a multiple-choice question (``choices``: letter -> option text) answered
    with no letter, to the option the answer names by its text; the paper-faithful style reads
    stage 2's letters only, as Kojima et al. did.
    """
    text = answer_text(row, method)
    pred = extract_answer(text, fmt, method, style)
    if pred or style != "robust":
        return pred
    two_stage = methods.get(method).two_stage
    if two_stage:
        pred = extract_from(row["completion"], fmt, style, chain=True)
    if not pred and choices:
        pred = option_named(text, choices) or (option_named(row["completion"], choices) if two_stage else "")
    return pred


def score_row(row: dict, record: dict, method: str) -> dict:
    """One score row: predictions and correctness per style, plus the cost and failure flags.

    A self-consistency row's prediction is the majority vote of its paths' answers
    (:func:`cotrepro.scoring.self_consistency.majority_vote`); each path's answer and correctness are
    kept as ``paths_pred_{style}`` and ``paths_correct_{style}``, so the vote can be checked and
    redone over fewer paths, with each path's log-probability and token count (``paths_logprob``,
    ``paths_tokens``: both stages, :func:`cotrepro.rows.path_logprob`) for the weighted choosers.
    ``key`` is the generation row's, against which verifier scores are checked."""
    fmt, gold = record["answer_format"], record["answer"]
    out = {"id": record["id"], "key": row.get("key"), "gold": gold, "answer_format": fmt}
    paths = [{**row, **p} for p in row["paths"]] if methods.get(method).samples else None
    for style in STYLES:
        if paths is None:
            pred = predict(row, fmt, method, style, record.get("choices"))
        else:
            votes = [predict(p, fmt, method, style, record.get("choices")) for p in paths]
            out[f"paths_pred_{style}"] = votes
            out[f"paths_correct_{style}"] = [bool(v) and is_correct(v, gold, fmt, style) for v in votes]
            pred = majority_vote(votes)
        out[f"pred_{style}"] = pred
        out[f"correct_{style}"] = bool(pred) and is_correct(pred, gold, fmt, style)
    parts = row.get("paths", [row])
    if paths is not None:
        weights = [path_logprob(p) for p in paths]
        out["paths_logprob"] = [w for w, _ in weights]
        out["paths_tokens"] = [n for _, n in weights]
    out["prompt_tokens"] = row.get("prompt_tokens", 0)
    out["tokens_processed"] = row_tokens_processed(row)
    out["generated_tokens"] = row_generated_tokens(row)
    out["hit_max_new_tokens"] = any(p["hit_max_new_tokens"] or p.get("stage2_hit_max_new_tokens") for p in parts)
    out["over_context"] = row_over_context(row)
    return out


def score_rows(rows: Sequence[dict], records: Sequence[dict], method: str) -> list[dict]:
    """Score every generation row against its task record (matched by id)."""
    by_id = {r["id"]: r for r in records}
    missing = [row["id"] for row in rows if row["id"] not in by_id]
    if missing:
        raise ValueError(
            f"{len(missing)} generation rows have no task record (first: {missing[0]}); "
            "the task file changed after generation"
        )
    return [score_row(row, by_id[row["id"]], method) for row in rows]
