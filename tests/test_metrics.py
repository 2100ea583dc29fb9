"""Interval and test statistics against values computed independently."""

import math

import pytest

from cotrepro.metrics import accuracy, mcnemar_exact, wilson_interval


def test_wilson_known_values():
    low, high = wilson_interval(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    low, high = wilson_interval(57, 100)
    assert (round(low, 4), round(high, 4)) == (0.4722, 0.6627)


def test_empty_sets_are_nan():
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    assert math.isnan(accuracy(0, 0))
    assert accuracy(3, 4) == 0.75


@pytest.mark.parametrize("b,c,p", [(1, 9, 0.021484375), (5, 5, 1.0), (0, 0, 1.0), (0, 6, 0.03125), (9, 1, 0.021484375)])
def test_mcnemar_exact(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p)
