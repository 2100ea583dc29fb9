"""Accuracy statistics: Wilson score intervals and McNemar's exact test for paired methods.

Pure Python (``math`` only), so scoring needs no SciPy.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def _check_count(correct: int, n: int) -> None:
    if n < 0 or not 0 <= correct <= n:
        raise ValueError(f"need 0 <= correct <= n, got correct={correct}, n={n}")


def accuracy(correct: int, n: int) -> float:
    """Fraction correct, in [0, 1]; NaN for an empty set (no questions means no accuracy, not 0%)."""
    _check_count(correct, n)
    return correct / n if n else float("nan")


def wilson_interval(correct: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion, as fractions in [0, 1]; (nan, nan) when n is 0.
    ``correct`` may be an expected count (a sum of per-question probabilities).

    Unlike the normal approximation it stays inside [0, 1] and behaves at 0% and 100%, which
    small models on hard tasks hit often. ``z`` is the normal quantile (default: 95%).
    """
    _check_count(correct, n)
    if n == 0:
        return float("nan"), float("nan")
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0% and 100% the bound is exactly 0 or 1; floating point would leave 0.9999999999999999.
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    high = 1.0 if correct == n else min(1.0, centre + half)
    return low, high


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts of two methods on the same questions.

    ``b``: questions method A got right and B wrong; ``c``: the reverse. Under the null each
    discordant question is a fair coin, so the p-value is twice the smaller binomial tail
    (capped at 1); with no discordant questions there is no evidence either way: 1.0.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    # Exact integer arithmetic until the one final division.
    return min(1.0, 2 * tail / 2**n)
