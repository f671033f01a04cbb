"""Posterior-ensemble metrics from integer scores: accuracy, NLL, ECE, predictive entropy.

Contract: ``probabilities(scores, scale)`` is ``softmax(scale · scores)`` row-wise (float64,
max-subtracted); ``average_probabilities(member_scores, scale)`` is the ensemble's predictive
distribution, the mean of the members'; ``ensemble_metrics(member_scores, labels, scale)``
averages the members' probabilities and returns ``accuracy``, ``nll``, ``ece`` (15 equal-width confidence bins,
(i/15, (i+1)/15], ``bnn2hw.metrics``) and ``entropy`` (mean predictive entropy, nats),
plus each member's accuracy; given the mode network's scores, also ``disagreement``: the share
of images whose ensemble label differs from the mode network's (≈ 0 for a collapsed posterior,
whose samples are the mode network). ``scale`` is the trained network's positive output scale
(``OutputScale``, dropped by the compiler because argmax does not need it): with it the
probabilities are the trained model's; its value only changes calibration, never labels.
"""

from __future__ import annotations

import numpy as np

from bnn2hw.metrics import expected_calibration_error
from bnn2hw.sim.accelerator import top1

PROB_FLOOR = 1e-12


def probabilities(scores: np.ndarray, scale: float) -> np.ndarray:
    logits = scale * scores.astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def average_probabilities(member_scores: list[np.ndarray], scale: float) -> np.ndarray:
    return np.mean([probabilities(s, scale) for s in member_scores], axis=0)


def ensemble_metrics(member_scores: list[np.ndarray], labels: np.ndarray, scale: float,
                     mode_scores: np.ndarray | None = None) -> dict:
    probs = average_probabilities(member_scores, scale)
    extra = {} if mode_scores is None else {"disagreement": float(np.mean(top1(probs) != top1(mode_scores)))}
    picked = probs[np.arange(len(labels)), labels]
    entropy = -np.sum(probs * np.log(np.maximum(probs, PROB_FLOOR)), axis=1)
    return {
        "members": len(member_scores),
        "accuracy": float(np.mean(top1(probs) == labels)),
        "nll": float(-np.mean(np.log(np.maximum(picked, PROB_FLOOR)))),
        "ece": expected_calibration_error(probs, labels),
        "entropy": float(entropy.mean()),
        "member_accuracy": [float(np.mean(top1(s) == labels)) for s in member_scores],
        **extra,
    }
