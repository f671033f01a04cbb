"""Run checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

Contract: a checkpoint is a dict with ``format == "bnn2hw-checkpoint"`` and ``version``,
the training ``config`` (plain dict), ``model_config`` (``bnn2hw.models.ModelConfig`` as a
dict: rebuild with ``build_model(ModelConfig(**d))``), ``model_state``, ``optimizer_state``, ``latent``
(per binary layer, the tensor whose sign is the hardware network; λ for BayesBiNN),
``epoch`` (epochs finished), ``history``, ``metrics`` and ``rng_state``.
``load_checkpoint`` refuses a missing, corrupt or foreign file with ``CheckpointError``
naming the file and the problem.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

CHECKPOINT_FORMAT = "bnn2hw-checkpoint"
CHECKPOINT_VERSION = 1
REQUIRED_KEYS = ("config", "model_config", "model_state", "latent", "epoch")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and why."""


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write ``payload`` to ``path`` atomically: a crash leaves the old file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(f"{path}: corrupt or not a torch checkpoint ({err})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a bnn2hw checkpoint (no format '{CHECKPOINT_FORMAT}')")
    if data.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {data.get('version')}, "
                              f"this bnn2hw reads version {CHECKPOINT_VERSION}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return data
