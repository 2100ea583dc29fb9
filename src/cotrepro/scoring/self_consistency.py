"""Self-consistency (Wang et al., 2022): the majority vote over sampled paths, and accuracy against
the number of paths from one sampling run.

The vote: every path's extracted answer is a vote; paths with no answer do not vote; among the
answers with the most votes the one reached first (the lowest path index) wins.

Accuracy at k' paths, for k' < k: the expected accuracy of the vote over k' of the k sampled paths,
a subset drawn uniformly (kept in path order, so ties break as they would have). It is exact
(every subset) when there are at most ``resamples`` subsets, else the mean over ``resamples``
subsets drawn with a generator seeded by (seed, question, k').
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from cotrepro.scoring.metrics import wilson_interval

RESAMPLES = 1000
"""Subsets drawn per question and number of paths when there are more than this many."""


def majority_vote(answers: Sequence[str]) -> str:
    """The answer most paths gave ("" when none gave one); a tie goes to the answer reached first."""
    counts = Counter(a for a in answers if a)
    if not counts:
        return ""
    best = max(counts.values())
    return next(a for a in answers if a and counts[a] == best)


def path_counts(k: int) -> list[int]:
    """The numbers of paths a curve shows: 1, 2, 4, ... up to k, and k itself."""
    sizes = [2**i for i in range(k.bit_length()) if 2**i <= k]
    return sizes if sizes[-1] == k else [*sizes, k]


def _subsets(n: int, size: int, resamples: int, seed: int) -> tuple[np.ndarray, bool]:
    """[S, size] path indices, each row ascending: every subset when there are at most ``resamples``
    (exact), else ``resamples`` uniform draws; and whether they are every subset."""
    if math.comb(n, size) <= resamples:
        return np.array(list(itertools.combinations(range(n), size)), dtype=np.int64).reshape(-1, size), True
    rng = np.random.default_rng(seed)
    draws = np.argsort(rng.random((resamples, n)), axis=1)[:, :size]
    return np.sort(draws, axis=1), False


def expected_vote_accuracy(
    answers: Sequence[str], correct: Sequence[bool], size: int, *, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float, bool]:
    """The probability that the vote of ``size`` of the paths (a uniformly random subset) is a
    correct answer, given each path's answer and whether it is correct; and whether it is exact."""
    return expected_choice_accuracy(
        answers, correct, np.ones(len(answers)), size, reduce="sum", resamples=resamples, seed=seed
    )


REDUCTIONS = ("sum", "logsumexp", "logmeanexp", "max")
"""How a chooser turns the values of the paths that gave one answer into that answer's score: their
sum (the vote, with values 1; weighted best-of-N, with verifier scores); the log of the sum or of
the mean of their exponentials (Wang et al.'s weighted sum and average, with log-probabilities as
values, so that long paths' probabilities do not underflow); or, for "max", the answer of the
single highest-valued path (best-of-N), the first such path on a tie."""


def expected_choice_accuracy(
    answers: Sequence[str],
    correct: Sequence[bool],
    values: Sequence[float],
    size: int,
    *,
    reduce: str,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> tuple[float, bool]:
    """The probability that a chooser over ``size`` of the paths (a uniformly random subset, kept in
    path order) picks a correct answer, given each path's answer, correctness and value; and whether
    it is exact (every subset counted). Paths with no answer take no part; among the answers with the
    highest score (:data:`REDUCTIONS`) the one reached first wins."""
    n = len(answers)
    if not 1 <= size <= n:
        raise ValueError(f"cannot choose with {size} of {n} paths")
    if reduce not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduce!r}; one of {REDUCTIONS}")
    classes = {a: i for i, a in enumerate(dict.fromkeys(a for a in answers if a), start=1)}
    if not classes:
        return 0.0, True
    label = np.array([classes.get(a, 0) for a in answers])  # 0: no answer
    right = np.zeros(len(classes) + 1, dtype=bool)
    for a, i in classes.items():
        right[i] = bool(correct[answers.index(a)])
    subsets, exact = _subsets(n, size, resamples, seed)
    picked = label[subsets]  # [S, size]: each subset's answers, in path order
    value = np.asarray(values, dtype=np.float64)[subsets]  # [S, size]
    voted = (picked > 0).any(axis=1)
    if reduce == "max":
        best = np.where(picked > 0, value, -np.inf).argmax(axis=1)  # the first highest-valued answered path
        winner = picked[np.arange(len(picked)), best]
        return float((right[winner] & voted).mean()), exact
    onehot = picked[:, :, None] == np.arange(len(classes) + 1)[None, None, :]  # [S, size, classes]
    counts = onehot.sum(axis=1)  # [S, classes]
    first = np.where(onehot.any(axis=1), onehot.argmax(axis=1), size)  # first position of each answer
    if reduce == "sum":
        score = (onehot * value[:, :, None]).sum(axis=1)
    else:
        score = np.logaddexp.reduce(np.where(onehot, value[:, :, None], -np.inf), axis=1)
        if reduce == "logmeanexp":
            score = score - np.log(np.maximum(counts, 1))
    score = np.where(counts > 0, score, -np.inf)
    score[:, 0] = -np.inf  # no-answer paths do not vote
    top = score.max(axis=1, keepdims=True)
    winner = np.where(score == top, first, size + 1).argmin(axis=1)  # highest score, then reached first
    return float((right[winner] & voted).mean()), exact


def curve_seed(seed: int, question: str, size: int) -> int:
    """The resampling seed of one question and number of paths."""
    return int.from_bytes(hashlib.sha256(f"{seed}\x00{question}\x00{size}".encode()).digest()[:8], "big")


def curve_point(size: int, expected: float, n: int, exact: bool) -> dict:
    """One point of an accuracy-against-paths curve: ``expected`` correct answers of ``n`` questions
    at ``size`` paths, in percent with a 95% Wilson interval, and whether every subset was counted."""
    low, high = wilson_interval(expected, n)
    return {
        "paths": size,
        "n": n,
        "accuracy": round(100 * expected / n, 2),
        "ci_low": round(100 * low, 2),
        "ci_high": round(100 * high, 2),
        "exact": exact,
    }


def accuracy_by_paths(
    questions: Sequence[tuple[str, Sequence[str], Sequence[bool]]], *, resamples: int = RESAMPLES, seed: int = 0
) -> list[dict]:
    """For each number of paths k' (:func:`path_counts`), the expected vote accuracy over the
    questions ``(id, path answers, path correct)``, in percent, with a 95% Wilson interval on the
    expected number of correct answers; ``exact`` says whether every subset was counted."""
    if not questions:
        return []
    k = min(len(answers) for _, answers, _ in questions)
    out = []
    for size in path_counts(k):
        probs, exact = [], True
        for qid, answers, correct in questions:
            p, was_exact = expected_vote_accuracy(
                answers[:k], correct[:k], size, resamples=resamples, seed=curve_seed(seed, qid, size)
            )
            probs.append(p)
            exact = exact and was_exact
        out.append(curve_point(size, sum(probs), len(probs), exact))
    return out


PATHS_COLUMNS = [
    "model",
    "task",
    "method",
    "style",
    "paths",
    "n",
    "accuracy",
    "ci_low",
    "ci_high",
    "exact",
    "mean_generated_tokens",
]
"""Columns of results/accuracy_vs_paths.csv (accuracy and its interval in percent)."""


def paths_table(parts, *, resamples: int = RESAMPLES, seed: int = 0):
    """results/accuracy_vs_paths.csv as a DataFrame, from ``(key, score rows)`` pairs of the
    self-consistency units (key = {model, task, method}); one row per style and number of paths.
    Tokens at k' of k paths are k'/k of the question's tokens (the expectation over subsets)."""
    import pandas as pd

    from cotrepro.scoring.extract import STYLES

    rows = []
    for key, scores in parts:
        if not scores:
            continue
        k = min(len(s["paths_pred_kojima"]) for s in scores)
        tokens = sum(s["generated_tokens"] for s in scores) / len(scores)
        for style in STYLES:
            questions = [(s["id"], s[f"paths_pred_{style}"], s[f"paths_correct_{style}"]) for s in scores]
            for point in accuracy_by_paths(questions, resamples=resamples, seed=seed):
                tokens_at = round(tokens * point["paths"] / k, 2)
                rows.append({**key, "style": style, **point, "mean_generated_tokens": tokens_at})
    return pd.DataFrame(rows, columns=PATHS_COLUMNS)
