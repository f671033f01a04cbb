"""Exact batchnorm + sign folding: exact_ge against high-precision decimals, thresholds against
brute force over every reachable accumulator, γ<0 / γ=0 / ties, clipping."""

from decimal import Decimal, getcontext
from fractions import Fraction

import numpy as np
import pytest

from bnn2hw.compile.thresholds import (
    apply_thresholds, batchnorm_sign_rule, exact_ge, fold_batchnorm_to_thresholds, fold_channel,
)


def _decimal_ge(a: Fraction, b: Fraction, v: Fraction) -> bool:
    getcontext().prec = 80
    dec = lambda f: Decimal(f.numerator) / Decimal(f.denominator)  # noqa: E731
    return dec(a) >= dec(b) * dec(v).sqrt()


def test_exact_ge_matches_high_precision():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        a, b = (Fraction(float(rng.normal() * 10)) for _ in range(2))
        v = Fraction(float(rng.uniform(0, 10)))
        assert exact_ge(a, b, v) == _decimal_ge(a, b, v)


@pytest.mark.parametrize("a,b,v,expected", [
    (2, 1, 4, True), (-2, -1, 4, True), (3, 1, 9, True), (-3, 1, 9, False), (0, 0, 5, True),
    (Fraction(-1, 2), Fraction(-1, 4), 4, True), (Fraction(1, 3), Fraction(1, 6), 4, True),
    (Fraction(1, 3) - Fraction(1, 10**30), Fraction(1, 6), 4, False),
])
def test_exact_ge_ties(a, b, v, expected):
    assert exact_ge(Fraction(a), Fraction(b), Fraction(v)) is expected


def _brute_force(gamma, beta, mean, var, eps, lo, hi):
    rule = batchnorm_sign_rule(gamma, beta, mean, var, eps)
    return np.array([1 if rule(a) else -1 for a in range(lo, hi + 1)])


def test_fold_matches_brute_force_on_every_accumulator():
    rng = np.random.default_rng(1)
    for _ in range(400):
        k = int(rng.integers(1, 40))
        gamma = float(np.float32(rng.choice([0.0, 1.0, -1.0]) * rng.uniform(0.01, 3)))
        mean, beta = float(np.float32(rng.normal(0, k / 2))), float(np.float32(rng.normal(0, 2)))
        var = float(np.float32(rng.uniform(0, 3 * k)))
        flip, t = fold_channel(gamma, beta, mean, var, 1e-4, -k, k)
        acc = np.arange(-k, k + 1)
        got = apply_thresholds(acc[:, None], np.array([flip]), np.array([t]))[:, 0]
        assert np.array_equal(got, _brute_force(gamma, beta, mean, var, 1e-4, -k, k))
        assert -k <= t <= k + 1


def test_exact_tie_gives_plus_one_and_negative_gamma_flips():
    # γ(acc − μ)/2 + β = 0 exactly at acc = 3 (var + eps = 4)
    eps = 2.0 ** -14
    assert fold_channel(1.0, 0.5, 4.0, 4.0 - eps, eps, -10, 10) == (False, 3)
    # γ < 0: −(acc − 4)/2 − 0.5 >= 0 iff acc <= 3 (tie at 3), i.e. −acc >= −3
    assert fold_channel(-1.0, -0.5, 4.0, 4.0 - eps, eps, -10, 10) == (True, -3)


def test_zero_gamma_is_constant():
    assert fold_channel(0.0, 0.0, 3.0, 1.0, 1e-4, -8, 8) == (False, -8)    # sign(0) = +1: always +1
    assert fold_channel(0.0, 0.25, 3.0, 1.0, 1e-4, -8, 8) == (False, -8)
    assert fold_channel(0.0, -0.25, 3.0, 1.0, 1e-4, -8, 8) == (False, 9)  # always −1


def test_thresholds_clip_to_one_past_the_range():
    flips, t = fold_batchnorm_to_thresholds([1.0, 1.0, -1.0], [0.0, 0.0, 0.0], [1e6, -1e6, -1e6],
                                            [1.0, 1.0, 1.0], 1e-4, -5, 5)
    assert np.array_equal(flips, [False, False, True])
    assert np.array_equal(t, [6, -5, 6])


def test_float32_values_are_used_exactly():
    # μ = 0.1 as float32 is slightly above 0.1; a float64 derivation from 0.1 would differ.
    mean = np.float32(0.1)
    flip, t = fold_channel(1.0, 0.0, float(mean), 0.0, 0.0 + 1e-300, -3, 3)
    assert (flip, t) == (False, 1)
    with pytest.raises(ValueError):
        fold_channel(1.0, float("nan"), 0.0, 1.0, 1e-4, -3, 3)
