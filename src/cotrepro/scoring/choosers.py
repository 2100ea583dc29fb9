"""Choosers over a question's stored sampled paths, computed in scoring (never by regenerating), and
the expected accuracy of each at k' = 1, 2, 4, ... k paths.

Strategies (each a pure function of the paths' answers and one value per path):

- ``majority``: the vote of self-consistency (value 1 a path, summed).
- Wang et al. (2022), Table 1: a path's weight is its probability, exp of its summed token
  log-probability (``unnormalized``) or of the mean (``normalized``: the sum over its token count).
  ``weighted_sum_*`` = argmax_a sum of the weights of the paths answering a;
  ``weighted_avg_*`` = argmax_a (sum of those weights) / (number of paths answering a).
  For two-stage zero-shot CoT a path's log-probability and token count are both stages'
  (:func:`cotrepro.scoring.score.path_logprob`). Computed in log space (log-sum-exp), the same argmax
  without underflow. A unit whose rows carry no log-probabilities (the from-scratch backend, a
  server without them) has no weighted strategies.
- ``best_of_n``: the answer of the path a verifier scores highest; ``weighted_best_of_n``: the
  answer whose paths' verifier scores sum highest (Snell et al. 2024; HF search-and-learn); one
  pair per verifier whose scores exist for the unit.
- ``coverage``: the oracle, pass@k, whether any of k' paths is right, by the unbiased estimator
  1 - C(n-c, k')/C(n, k') (Chen et al. 2021; Brown et al. 2024): every chooser's ceiling.

Ties go to the answer reached first (the lowest path index), as the vote's do; for ``best_of_n``
to the first of the highest-scored paths. Paths with no answer take no part in any chooser.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from cotrepro.scoring.self_consistency import RESAMPLES, curve_point, curve_seed, expected_choice_accuracy, path_counts

WEIGHTED = {
    "weighted_avg_unnormalized": ("logmeanexp", False),
    "weighted_avg_normalized": ("logmeanexp", True),
    "weighted_sum_unnormalized": ("logsumexp", False),
    "weighted_sum_normalized": ("logsumexp", True),
}
"""Wang et al.'s four aggregations: the reduction over an answer's paths and whether the weight is
normalized by the path's token count."""

VERIFIED = {"best_of_n": "max", "weighted_best_of_n": "sum"}
"""The verifier choosers and their reductions of the verifier's scores."""

STRATEGIES = ("majority", *WEIGHTED, *VERIFIED, "coverage")


def path_weights(logprobs: Sequence[float], tokens: Sequence[int], normalized: bool) -> list[float]:
    """Each path's log weight: its summed log-probability, or that over its token count (at least 1)."""
    return [lp / max(n, 1) if normalized else lp for lp, n in zip(logprobs, tokens, strict=True)]


def choose(answers: Sequence[str], values: Sequence[float], reduce: str) -> str:
    """The answer a chooser picks from all the paths ("" when none answered); see
    :data:`cotrepro.scoring.self_consistency.REDUCTIONS` and the module's tie rule."""
    answered = [i for i, a in enumerate(answers) if a]
    if not answered:
        return ""
    if reduce == "max":
        return answers[max(answered, key=lambda i: (values[i], -i))]
    groups: dict[str, list[float]] = {}
    for i in answered:
        groups.setdefault(answers[i], []).append(values[i])

    def score(vs: list[float]) -> float:
        if reduce == "sum":
            return sum(vs)
        top = max(vs)
        total = top + math.log(sum(math.exp(v - top) for v in vs)) if top > -math.inf else -math.inf
        return total - math.log(len(vs)) if reduce == "logmeanexp" else total

    scores = {a: score(vs) for a, vs in groups.items()}
    best = max(scores.values())
    return next(a for a in scores if scores[a] == best)  # dict order: the answer reached first


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of one question with ``c`` right of ``n`` paths: 1 - C(n-c, k)/C(n, k)."""
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs 1 <= k <= n = {n}")
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def strategy_values(score: dict, style: str, verifier_scores: dict[str, list[float]]) -> dict[str, tuple]:
    """The strategies that apply to one question's score row: name -> (verifier or "", values,
    reduction); weighted ones only where every path has a log-probability, verifier ones per verifier."""
    n = len(score[f"paths_pred_{style}"])
    out: dict[str, tuple] = {("majority", ""): ([1.0] * n, "sum")}
    logprobs = score.get("paths_logprob")
    if logprobs and all(lp is not None for lp in logprobs):
        for name, (reduce, normalized) in WEIGHTED.items():
            out[(name, "")] = (path_weights(logprobs, score["paths_tokens"], normalized), reduce)
    for verifier, values in verifier_scores.items():
        for name, reduce in VERIFIED.items():
            out[(name, verifier)] = (values, reduce)
    return out


def question_choices(score: dict, style: str, verifier_scores: dict[str, list[float]]) -> dict[str, str]:
    """Each strategy's choice from all of a question's paths, keyed "strategy" or "strategy:verifier"."""
    answers = score[f"paths_pred_{style}"]
    return {
        f"{name}:{verifier}" if verifier else name: choose(answers, values, reduce)
        for (name, verifier), (values, reduce) in strategy_values(score, style, verifier_scores).items()
    }


def accuracy_by_strategy(
    scores: Sequence[dict],
    style: str,
    verifier_scores: dict[str, dict[str, list[float]]],
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> list[dict]:
    """For each strategy (and verifier) and each k' (:func:`path_counts`), the expected accuracy over
    the questions in percent with a 95% Wilson interval on the expected count, and whether it is exact.
    ``verifier_scores``: verifier -> question id -> per-path scores. The subsets of a question and k'
    are the same for every strategy (one seed), so strategies are compared on the same draws."""
    if not scores:
        return []
    k = min(len(s[f"paths_pred_{style}"]) for s in scores)
    sums: dict[tuple, list] = {}
    for s in scores:
        answers, correct = s[f"paths_pred_{style}"][:k], s[f"paths_correct_{style}"][:k]
        per = {v: by_id[s["id"]][:k] for v, by_id in verifier_scores.items() if s["id"] in by_id}
        for size in path_counts(k):
            seed_q = curve_seed(seed, s["id"], size)
            for (name, verifier), (values, reduce) in strategy_values(s, style, per).items():
                p, exact = expected_choice_accuracy(
                    answers, correct, values[:k], size, reduce=reduce, resamples=resamples, seed=seed_q
                )
                acc = sums.setdefault((name, verifier, size), [0.0, 0, True])
                acc[0], acc[1], acc[2] = acc[0] + p, acc[1] + 1, acc[2] and exact
            cov = sums.setdefault(("coverage", "", size), [0.0, 0, True])
            cov[0], cov[1] = cov[0] + pass_at_k(k, sum(map(bool, correct)), size), cov[1] + 1
    out = []
    for (name, verifier, size), (expected, n, exact) in sums.items():
        out.append({"strategy": name, "verifier": verifier, **curve_point(size, expected, n, exact)})
    order = {s: i for i, s in enumerate(STRATEGIES)}
    return sorted(out, key=lambda r: (order[r["strategy"]], r["verifier"], r["paths"]))
