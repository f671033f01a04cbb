"""Where training runs: the ``--device`` choice, and moving a run's state there and back.

Contract:
- ``DEVICE_CHOICES``: ``auto`` (the first GPU when torch sees one, else the CPU), ``cpu``,
  ``cuda`` (the GPU of this process: ``cuda:LOCAL_RANK`` under torchrun, else ``cuda:0``),
  ``cuda:N``. ``check_device_name(name)`` refuses anything else with ``ValueError`` naming
  ``--device``.
- ``resolve_device(name, local_rank=0)`` is the ``torch.device``; asking for a GPU where torch
  has none (a CPU build or no device) or for ``cuda:N`` past the last GPU raises ``ValueError``,
  one line naming ``--device``: the CLI exits 2.
- ``device_of(module)`` is the device of a module's first parameter (the CPU for none).
- ``move_training_state(model, optimizer, device)``: the model, the optimizer's state tensors
  (all but ``step`` counters, which torch keeps on the CPU) and anything an optimizer holds
  besides (``move_to(device)``, e.g. LNS's binarizers) moved to ``device``. The loop builds model
  and optimizer on the CPU first, so a run starts from the same numbers on every device.
- ``to_cpu(obj)``: a copy of nested dicts / lists / tuples with every tensor on the CPU, so a
  checkpoint saved from a GPU loads where there is none.
"""

from __future__ import annotations

import re

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
_DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device_name(name: str) -> None:
    if not isinstance(name, str) or not _DEVICE_PATTERN.fullmatch(name):
        raise ValueError(f"device (--device) must be one of {', '.join(DEVICE_CHOICES)}, got {name!r}")


def _no_gpu_reason() -> str:
    if torch.version.cuda is None:
        return f"this torch ({torch.__version__}) is built without CUDA"
    return "torch sees no CUDA device on this machine"


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """The device ``--device name`` means for the process with ``local_rank``."""
    check_device_name(name)
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"--device {name}: {_no_gpu_reason()}; use --device cpu or auto")
    index = local_rank if name in ("auto", "cuda") else int(name.split(":")[1])
    count = torch.cuda.device_count()
    if index >= count:
        raise ValueError(f"--device {name}: this process wants GPU {index}, torch sees {count}")
    return torch.device("cuda", index)


def device_of(module: torch.nn.Module) -> torch.device:
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def move_training_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Model, optimizer state and the optimizer's own modules onto ``device`` (in place)."""
    model.to(device)
    for state in optimizer.state.values():
        for key, value in state.items():
            if torch.is_tensor(value) and key != "step":
                state[key] = value.to(device)
    if hasattr(optimizer, "move_to"):
        optimizer.move_to(device)


def to_cpu(obj):
    """``obj`` with every tensor inside (dicts, lists, tuples) copied to the CPU."""
    if torch.is_tensor(obj):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj
