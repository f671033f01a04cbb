"""Shared fixtures: tiny runs trained once per session, so tests stay fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnn2hw.train import TrainConfig, train


def tiny_config(**changes) -> TrainConfig:
    base = dict(model="mlp:32", dataset="digits", epochs=2, batch_size=64, test_samples=3, val_split=0.1)
    return TrainConfig(**{**base, **changes})


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A 2-epoch BayesBiNN run of a 32-unit MLP on digits."""
    out = tmp_path_factory.mktemp("tiny_run")
    train(tiny_config(), out, progress=False, log=lambda _: None)
    return out
