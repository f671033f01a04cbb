"""Run checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

Contract: a checkpoint is a dict with ``format == "bnn2hw-checkpoint"`` and ``version``,
the training ``config`` (plain dict), ``model_config`` (``bnn2hw.models.ModelConfig`` as a
dict: rebuild with ``build_model(ModelConfig(**d))``), ``model_state``, ``optimizer_state``, ``latent``
(per binary layer, the tensor whose sign is the hardware network; λ for BayesBiNN),
``epoch`` (epochs finished), ``history``, ``metrics`` and ``rng_state``.
``load_checkpoint`` refuses a missing, corrupt or foreign file with ``CheckpointError``
naming the file and the problem. ``save_checkpoint`` writes a temporary sibling
``.checkpoint.pt.tmp-PID`` and renames it: the temporary is removed if the write fails, and
those of killed writers (their process gone) are removed by the next save.
``load_into(model, ckpt, path)`` loads the model state and checks every latent tensor against
its layer (count, shape, finite values), refusing a mismatch with the tensor's name.
``stored_model_config(ckpt, path)`` is the checkpoint's ``ModelConfig``;
``load_trained(run_dir)`` is (checkpoint, the model it describes with its trained state, in eval
mode); ``load_matching_run(model, run_dir)`` loads a run a method starts from (``--init``) into
``model`` after checking that the run's model is this model, and returns its latent tensors.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import zipfile
from pathlib import Path

import torch

from bnn2hw.models import BinaryNet, ModelConfig, build_model

CHECKPOINT_FORMAT = "bnn2hw-checkpoint"
CHECKPOINT_VERSION = 1
REQUIRED_KEYS = ("config", "model_config", "model_state", "latent", "epoch")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and why."""


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write ``payload`` to ``path`` atomically: a crash leaves the old file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temporaries(path: Path) -> None:
    """``.NAME.tmp-PID`` files of writers that were killed mid-write."""
    for tmp in path.parent.glob(f".{path.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[1]
        if pid.isdigit() and int(pid) != os.getpid() and not _process_alive(int(pid)):
            with contextlib.suppress(OSError):
                tmp.unlink()


def load_checkpoint(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError, KeyError, ValueError,
            TypeError, UnicodeDecodeError) as err:  # what torch.load raises for bytes that are no checkpoint
        raise CheckpointError(f"{path}: corrupt or not a torch checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a bnn2hw checkpoint (no format '{CHECKPOINT_FORMAT}')")
    if data.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {data.get('version')}, "
                              f"this bnn2hw reads version {CHECKPOINT_VERSION}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return data


def _non_finite(name: str, tensor, path: Path) -> None:
    if torch.is_tensor(tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        bad = int((~torch.isfinite(tensor)).sum())
        raise CheckpointError(f"{path}: {name} holds {bad} non-finite value(s) (NaN or inf) of "
                              f"{tensor.numel()}; the run cannot be used")


def load_into(model, ckpt: dict, path: Path) -> None:
    """``ckpt``'s model state into ``model``; every latent tensor checked against its binary layer."""
    path = Path(path)
    state = ckpt["model_state"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: model_state is not a dict of tensors")
    for name, tensor in state.items():
        _non_finite(f"model_state[{name!r}]", tensor, path)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise CheckpointError(f"{path}: model_state does not match the model "
                              f"{model.config.name} ({' '.join(line.strip() for line in first[:3])})") from None
    layers, latent = model.binary_layers(), list(ckpt["latent"])
    if len(latent) != len(layers):
        raise CheckpointError(f"{path}: {len(latent)} latent tensors for {len(layers)} binary layers")
    names = {id(m): n for n, m in model.named_modules()}
    for i, (layer, tensor) in enumerate(zip(layers, latent)):
        where = f"latent[{i}] ({names.get(id(layer), 'layer')})"
        if not torch.is_tensor(tensor) or tuple(tensor.shape) != tuple(layer.weight.shape):
            shape = tuple(tensor.shape) if torch.is_tensor(tensor) else type(tensor).__name__
            raise CheckpointError(f"{path}: {where} has shape {shape}, the layer's weight is "
                                  f"{tuple(layer.weight.shape)}")
        _non_finite(where, tensor, path)


def stored_model_config(ckpt: dict, path: Path) -> ModelConfig:
    try:
        return ModelConfig(**{**ckpt["model_config"], "in_shape": tuple(ckpt["model_config"]["in_shape"])})
    except (TypeError, KeyError, ValueError) as err:
        raise CheckpointError(f"{path}: model_config does not describe a model ({err})") from None


def load_trained(run_dir: Path) -> tuple[dict, BinaryNet]:
    """(checkpoint, its model with the trained state, in eval mode) of a run directory."""
    path = Path(run_dir) / "checkpoint.pt"
    ckpt = load_checkpoint(path)
    try:
        model = build_model(stored_model_config(ckpt, path))
    except (TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path}: model does not match its checkpoint ({err})") from None
    load_into(model, ckpt, path)
    return ckpt, model.eval()


def load_matching_run(model: BinaryNet, run_dir) -> list[torch.Tensor]:
    """Load the run in ``run_dir`` (same topology and input as ``model``) into ``model``; its latents."""
    path = Path(run_dir) / "checkpoint.pt"
    source = load_checkpoint(path)
    theirs = stored_model_config(source, path)
    if theirs != model.config:
        raise CheckpointError(f"{path}: --init run has model {theirs}, this run builds {model.config}")
    load_into(model, source, path)
    return [t.detach() for t in source["latent"]]
