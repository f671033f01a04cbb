"""Fixtures: hand-made checkpoints for the compiler tests (trained runs are in tests/conftest.py)."""

from dataclasses import asdict
from pathlib import Path

import torch

from bnn2hw.models import ModelConfig, build_model
from bnn2hw.train import TrainConfig, save_checkpoint


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
