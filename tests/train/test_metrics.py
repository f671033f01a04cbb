"""Metrics against hand-computed values."""

import math

import numpy as np
import pytest

from bnn2hw.train.metrics import (
    accuracy,
    classification_metrics,
    expected_calibration_error,
    negative_log_likelihood,
    predictive_entropy,
)


def test_accuracy_nll_entropy_by_hand():
    probs = np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]])
    labels = np.array([0, 1, 1])
    assert accuracy(probs, labels) == pytest.approx(2 / 3)
    assert negative_log_likelihood(probs, labels) == pytest.approx(-(math.log(0.7) + math.log(0.8) + math.log(0.4)) / 3)
    assert predictive_entropy(np.array([[0.5, 0.5]]))[0] == pytest.approx(math.log(2))


def test_ece_by_hand_15_bins():
    # confidences 0.7 (bin 10), 0.8 (bin 11), 0.6 (bin 8): each bin |acc - conf| weighted 1/3.
    probs = np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]])
    labels = np.array([0, 1, 1])
    expected = (abs(1 - 0.7) + abs(1 - 0.8) + abs(0 - 0.6)) / 3
    assert expected_calibration_error(probs, labels) == pytest.approx(expected)


def test_perfect_confident_predictions_have_zero_ece_and_nll():
    probs = np.eye(4)
    m = classification_metrics(probs, np.arange(4))
    assert m["acc"] == 1.0 and m["ece"] == pytest.approx(0.0) and m["nll"] == pytest.approx(0.0, abs=1e-9)
