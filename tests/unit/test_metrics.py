"""Interval and test statistics against values computed independently."""

import math

import pytest

from cotrepro.scoring.metrics import accuracy, mcnemar_exact, wilson_interval


@pytest.mark.parametrize(
    "correct,n,expected",
    [
        (8, 10, (0.4902, 0.9433)),
        (57, 100, (0.4722, 0.6627)),
        (5, 10, (0.2366, 0.7634)),
        (1, 20, (0.0089, 0.2361)),
    ],
    ids=["8/10", "57/100", "5/10", "1/20"],
)
def test_wilson_known_values(correct, n, expected):
    low, high = wilson_interval(correct, n)
    assert (round(low, 4), round(high, 4)) == expected


def test_wilson_bounds_at_the_extremes():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and low == pytest.approx(0.7225, abs=1e-4)


def test_wilson_properties():
    low, high = wilson_interval(30, 70)
    assert low < 30 / 70 < high
    mirror = wilson_interval(40, 70)
    assert (low, high) == pytest.approx((1 - mirror[1], 1 - mirror[0]))
    wide = wilson_interval(30, 70, z=2.575829)
    assert wide[0] < low and wide[1] > high


def test_empty_sets_are_nan():
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    assert math.isnan(accuracy(0, 0))


def test_accuracy():
    assert accuracy(3, 4) == 0.75
    assert accuracy(0, 5) == 0.0


@pytest.mark.parametrize("correct,n", [(-1, 10), (11, 10), (0, -1)])
def test_impossible_counts_are_rejected(correct, n):
    with pytest.raises(ValueError):
        wilson_interval(correct, n)
    with pytest.raises(ValueError):
        accuracy(correct, n)


@pytest.mark.parametrize(
    "b,c,p",
    [
        (1, 9, 0.021484375),
        (9, 1, 0.021484375),
        (2, 8, 0.109375),
        (0, 6, 0.03125),
        (0, 1, 1.0),
        (5, 5, 1.0),
        (12, 12, 1.0),
        (0, 0, 1.0),
    ],
)
def test_mcnemar_exact(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p, rel=1e-12)


def test_mcnemar_large_counts_stay_finite():
    p = mcnemar_exact(400, 520)
    assert 0.0 < p < 0.001


def test_mcnemar_rejects_negative_counts():
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)
