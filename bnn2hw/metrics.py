"""Classification metrics on predicted probabilities: accuracy, NLL, ECE, entropy (numpy only:
training, the simulator and the deploy side all use these).

All functions take ``probs`` (N, C) that sum to 1 per row and integer ``labels`` (N,),
as numpy arrays, and return Python floats. ECE uses 15 equal-width confidence bins
(Guo et al., 2017): Σ_b |B_b|/N · |acc(B_b) − conf(B_b)|.
"""

from __future__ import annotations

import numpy as np

ECE_BINS = 15
_PROB_FLOOR = 1e-12  # keeps log finite for a confidently wrong prediction


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(probs, axis=1) == labels))


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray) -> float:
    picked = probs[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.maximum(picked, _PROB_FLOOR))))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    confidence = probs.max(axis=1)
    correct = np.argmax(probs, axis=1) == labels
    # Bin i holds confidences in (i/bins, (i+1)/bins]; confidence >= 1/C > 0 always.
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            total += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(total)


def predictive_entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy (nats) of each row of ``probs``."""
    return -np.sum(probs * np.log(np.maximum(probs, _PROB_FLOOR)), axis=1)


def classification_metrics(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """acc, nll, ece and mean predictive entropy of one set of predictions."""
    return {
        "acc": accuracy(probs, labels),
        "nll": negative_log_likelihood(probs, labels),
        "ece": expected_calibration_error(probs, labels),
        "entropy": float(predictive_entropy(probs).mean()),
    }
