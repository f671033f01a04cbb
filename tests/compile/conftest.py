"""Fixtures: small trained runs (digits) and hand-made checkpoints for the compiler tests."""

from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from bnn2hw.models import ModelConfig, build_model
from bnn2hw.train import TrainConfig, save_checkpoint, train


def _train(tmp_path_factory, name: str, **config) -> Path:
    run = tmp_path_factory.mktemp(name)
    train(TrainConfig(dataset="digits", **config), run, progress=False)
    return run


@pytest.fixture(scope="session")
def tfc_digits_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory, "tfc", model="tfc", epochs=2)


@pytest.fixture(scope="session")
def sfc_digits_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory, "sfc", model="sfc", epochs=1)


@pytest.fixture(scope="session")
def tfc_ste_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory, "tfc_ste", model="tfc", epochs=1, method="ste")


def write_untrained_run(run: Path, model_config: ModelConfig, dataset: str = "digits", seed: int = 0) -> Path:
    """A run directory holding an untrained model's checkpoint (STE latent = its weights)."""
    torch.manual_seed(seed)
    model = build_model(model_config)
    save_checkpoint(run / "checkpoint.pt", {
        "config": asdict(TrainConfig(model=model_config.name, dataset=dataset, method="ste", epochs=1)),
        "model_config": asdict(model_config),
        "model_state": model.state_dict(),
        "latent": [layer.weight.detach().clone() for layer in model.binary_layers()],
        "epoch": 0,
    })
    return run
