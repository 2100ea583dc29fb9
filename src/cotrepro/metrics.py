"""Accuracy statistics: Wilson score intervals and McNemar's exact test for paired methods."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def accuracy(correct: int, n: int) -> float:
    """Fraction correct; NaN for an empty set."""
    return correct / n if n else float("nan")


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion, as fractions; (nan, nan) when n is 0.

    Unlike the normal approximation it stays inside [0, 1] and behaves at 0% and 100%, which
    small models on hard tasks hit often.
    """
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
    discordant question is a fair coin, so the p-value is a two-sided binomial tail.
    """
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)
