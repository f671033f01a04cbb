"""Training-side name of ``bnn2hw.metrics`` (numpy only, shared with the torch-free simulator)."""

from bnn2hw.metrics import (  # noqa: F401
    ECE_BINS,
    accuracy,
    classification_metrics,
    expected_calibration_error,
    negative_log_likelihood,
    predictive_entropy,
)
