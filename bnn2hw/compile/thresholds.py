"""Exact folding of batchnorm (or any per-channel affine) followed by sign into integer thresholds.

Contract: for one channel with float32 parameters as stored (γ, β, running mean μ, running
variance σ², epsilon ε) the activation after an integer accumulator ``acc`` is

    +1  iff  γ·(acc − μ) / sqrt(σ² + ε) + β  >=  0          (sign(0) = +1)

decided in exact arithmetic: every stored float is converted to a ``fractions.Fraction``
exactly, and the irrational square root is never evaluated; the inequality is multiplied by
s = sqrt(σ² + ε) > 0 and decided by comparing squares (``exact_ge``). No float arithmetic
touches a decision.

``fold_batchnorm_to_thresholds`` returns per channel a ``flip`` flag and an integer
threshold ``T`` such that, for every integer acc in the accumulator range [lo, hi],

    out = +1  iff  (−acc if flip else acc) >= T

- γ > 0: the rule is increasing in acc: T is the smallest acc in [lo, hi + 1] with +1.
- γ < 0: decreasing: flip, T = −(largest acc with +1), in [−hi, −lo + 1].
- γ = 0: constant (+1 iff β >= 0): no flip, T = lo (always +1) or hi + 1 (always −1).
Thresholds are clipped to one past the accumulator range, so they stay small integers.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import numpy as np


def exact_ge(a: Fraction, b: Fraction, v: Fraction) -> bool:
    """a >= b·sqrt(v) exactly, for v >= 0."""
    if v < 0:
        raise ValueError(f"square root of a negative number {v}")
    if b >= 0:
        return a >= 0 and a * a >= b * b * v
    return a >= 0 or a * a <= b * b * v


def batchnorm_sign_rule(gamma: float, beta: float, mean: float, var: float,
                        eps: float) -> Callable[[int], bool]:
    """The exact predicate acc -> (batchnorm(acc) >= 0) of one channel."""
    g, b, m, v = (Fraction(float(t)) for t in (gamma, beta, mean, var))
    v = v + Fraction(float(eps))
    if v <= 0:
        raise ValueError(f"batchnorm variance + eps must be positive, got {float(v)}")
    # γ(acc − μ)/s + β >= 0  <=>  γ(acc − μ) >= −β·s   (multiplied by s > 0)
    return lambda acc: exact_ge(g * (acc - m), -b, v)


def _first_true(pred: Callable[[int], bool], lo: int, hi: int) -> int:
    """Smallest x in [lo, hi] with pred(x), for pred monotone false..true; hi if none before."""
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def fold_channel(gamma: float, beta: float, mean: float, var: float, eps: float,
                 lo: int, hi: int) -> tuple[bool, int]:
    """(flip, T) of one channel whose accumulator lies in [lo, hi]; see module docstring."""
    if not all(np.isfinite([gamma, beta, mean, var, eps])):
        raise ValueError("batchnorm parameters must be finite")
    rule = batchnorm_sign_rule(gamma, beta, mean, var, eps)
    if gamma == 0:
        return False, lo if beta >= 0 else hi + 1
    if gamma > 0:
        return False, _first_true(rule, lo, hi + 1)
    # decreasing in acc: on the negated accumulator -acc in [-hi, -lo] it is increasing.
    return True, _first_true(lambda neg: rule(-neg), -hi, -lo + 1)


def fold_batchnorm_to_thresholds(gamma, beta, mean, var, eps: float, lo, hi
                                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per channel (flip bool, threshold int64) for arrays of batchnorm parameters.

    ``lo``/``hi`` are the integer accumulator bounds, per channel arrays or scalars.
    """
    gamma, beta, mean, var = (np.asarray(t, dtype=np.float32).reshape(-1)
                              for t in (gamma, beta, mean, var))
    channels = len(gamma)
    lo = np.broadcast_to(np.asarray(lo, dtype=np.int64), (channels,))
    hi = np.broadcast_to(np.asarray(hi, dtype=np.int64), (channels,))
    flips = np.zeros(channels, dtype=bool)
    thresholds = np.zeros(channels, dtype=np.int64)
    for c in range(channels):
        flips[c], thresholds[c] = fold_channel(gamma[c], beta[c], mean[c], var[c], eps,
                                               int(lo[c]), int(hi[c]))
    return flips, thresholds


def apply_thresholds(acc: np.ndarray, flips: np.ndarray, thresholds: np.ndarray,
                     channel_axis: int = 1) -> np.ndarray:
    """±1 int64 activations of integer accumulators under (flip, T), channels on ``channel_axis``."""
    shape = [1] * acc.ndim
    shape[channel_axis] = -1
    signed = np.where(flips.reshape(shape), -acc, acc)
    return np.where(signed >= thresholds.reshape(shape), 1, -1).astype(np.int64)
