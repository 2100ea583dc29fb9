"""Choosers over stored paths (cotrepro.scoring.choosers) against direct implementations written
here: Wang et al.'s four weighted aggregations from their formulas, pass@k by enumerating subsets,
and the expected accuracy over subsets by choosing on every subset."""

from __future__ import annotations

import itertools
import math

import pytest

from cotrepro.scoring.choosers import WEIGHTED, accuracy_by_strategy, choose, pass_at_k, path_weights
from cotrepro.scoring.self_consistency import expected_choice_accuracy

ANSWERS = ["3", "5", "", "3", "7", "5"]
LOGPROBS = [-4.0, -1.0, -0.5, -3.0, -0.2, -6.0]
TOKENS = [8, 2, 1, 3, 2, 6]


def wang(answers, logprobs, tokens, kind, normalized):
    """Wang et al. (2022): w_i = exp(sum logprob) or exp(mean logprob); weighted sum = argmax_a
    sum_{i: a_i = a} w_i, weighted average = that sum / |{i: a_i = a}|; first answer on a tie."""
    w = [math.exp(lp / n if normalized else lp) for lp, n in zip(logprobs, tokens, strict=True)]
    best, best_score = "", -1.0
    for a in dict.fromkeys(x for x in answers if x):
        ws = [wi for wi, ai in zip(w, answers, strict=True) if ai == a]
        score = sum(ws) / len(ws) if kind == "avg" else sum(ws)
        if score > best_score:
            best, best_score = a, score
    return best


@pytest.mark.parametrize("name", list(WEIGHTED))
def test_weighted_aggregations_equal_wang_et_al_formulas(name):
    reduce, normalized = WEIGHTED[name]
    kind = "avg" if "avg" in name else "sum"
    for perm in itertools.permutations(range(len(ANSWERS))):
        answers = [ANSWERS[i] for i in perm]
        lps, toks = [LOGPROBS[i] for i in perm], [TOKENS[i] for i in perm]
        got = choose(answers, path_weights(lps, toks, normalized), reduce)
        assert got == wang(answers, lps, toks, kind, normalized), (name, perm)


def test_the_four_aggregations_can_disagree():
    picks = {n: choose(ANSWERS, path_weights(LOGPROBS, TOKENS, norm), r) for n, (r, norm) in WEIGHTED.items()}
    assert picks["weighted_sum_unnormalized"] == "7" and picks["weighted_sum_normalized"] == "3"
    assert choose(ANSWERS, [1.0] * 6, "sum") == "3"  # 2-2 vote tie: "3" came first
    assert choose(["a", "b", "a"], [0.5, 0.9, 0.9], "max") == "b"  # first of the highest-scored paths
    assert choose(["a", "b", "b"], [0.9, 0.5, 0.5], "sum") == "b"  # weighted best-of-N


def test_pass_at_k_equals_enumeration():
    for n in range(1, 7):
        for c in range(n + 1):
            for k in range(1, n + 1):
                right = [True] * c + [False] * (n - c)
                subsets = list(itertools.combinations(range(n), k))
                brute = sum(any(right[i] for i in s) for s in subsets) / len(subsets)
                assert pass_at_k(n, c, k) == pytest.approx(brute, abs=1e-12)


@pytest.mark.parametrize("reduce", ["sum", "logsumexp", "logmeanexp", "max"])
def test_expected_accuracy_is_the_mean_choice_over_every_subset(reduce):
    correct = [a == "5" for a in ANSWERS]
    for size in range(1, len(ANSWERS) + 1):
        subsets = list(itertools.combinations(range(len(ANSWERS)), size))
        brute = sum(choose([ANSWERS[i] for i in s], [LOGPROBS[i] for i in s], reduce) == "5" for s in subsets)
        got, exact = expected_choice_accuracy(ANSWERS, correct, LOGPROBS, size, reduce=reduce)
        assert exact and got == pytest.approx(brute / len(subsets), abs=1e-12), size


def test_accuracy_by_strategy_at_all_paths_is_the_choices_accuracy():
    score = {
        "id": "q1",
        "paths_pred_robust": ANSWERS,
        "paths_correct_robust": [a == "5" for a in ANSWERS],
        "paths_logprob": LOGPROBS,
        "paths_tokens": TOKENS,
    }
    rows = accuracy_by_strategy([score], "robust", {"orm": {"q1": [0.1, 0.2, 0.9, 0.3, 0.4, 0.8]}})
    at_k = {(r["strategy"], r["verifier"]): r["accuracy"] for r in rows if r["paths"] == 6}
    assert at_k[("majority", "")] == 0.0  # "3" wins the tie
    assert at_k[("weighted_sum_unnormalized", "")] == 0.0  # "7"
    assert at_k[("best_of_n", "orm")] == 100.0  # path 2 has no answer: path 5 ("5") is the best answered
    assert at_k[("coverage", "")] == 100.0
    cov = {r["paths"]: r["accuracy"] for r in rows if r["strategy"] == "coverage"}
    assert cov[1] == pytest.approx(100 * 2 / 6, abs=0.01)
