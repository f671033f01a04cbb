"""Posterior ensembles on the accelerator: integer scores -> probabilities (numpy only).

A build made with ``--output scores`` sends the last layer's accumulators; ``output_scores``
maps them to the network's integer scores with ``io_spec.output.score_map`` (2p − MW for an
XNOR layer's popcount p). ``probabilities`` is softmax(output_scale · scores) computed exactly
as ``bnn2hw.sim.ensemble.probabilities`` (float64, max subtracted), so a package's ensemble
equals ``bnn2hw simulate --ensemble`` / ``bnn2hw uncertainty`` to float rounding;
``average_probabilities`` is the ensemble's predictive distribution and ``predictive_entropy``
its entropy in nats, per image.
"""

from __future__ import annotations

import numpy as np

from .common import DriverError

PROB_FLOOR = 1e-12  # as bnn2hw.metrics: keeps log finite for a zero probability


def output_scores(values: np.ndarray, spec: dict) -> np.ndarray:
    """Output stream values (N, classes) of a scores build -> the network's integer scores."""
    mapping = spec["output"].get("score_map")
    if spec["output"]["kind"] != "scores" or not mapping:
        raise DriverError("this package's accelerator outputs labels, not scores: rebuild with "
                          "`bnn2hw build --output scores` for probabilities")
    return int(mapping["multiply"]) * values.astype(np.int64) + int(mapping["add"])


def probabilities(scores: np.ndarray, scale: float) -> np.ndarray:
    logits = scale * scores.astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def average_probabilities(member_scores: list, scale: float) -> np.ndarray:
    return np.mean([probabilities(s, scale) for s in member_scores], axis=0)


def predictive_entropy(probs: np.ndarray) -> np.ndarray:
    return -np.sum(probs * np.log(np.maximum(probs, PROB_FLOOR)), axis=1)
