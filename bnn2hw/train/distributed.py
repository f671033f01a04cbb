"""Data-parallel training on torch.distributed: one process per rank, each on a share of every batch.

Launch: ``torchrun --standalone --nproc-per-node N -m bnn2hw.cli train ...`` (or ``bnn2hw train
--nproc N``, which hands over to torchrun's launcher). ``start_runtime(device)`` reads torchrun's
``WORLD_SIZE`` / ``RANK`` / ``LOCAL_RANK`` and joins the process group (``gloo`` on the CPU,
``nccl`` on GPUs, ``PROCESS_GROUP_TIMEOUT`` on every collective, so a rank that stops answering
makes the others fail instead of waiting for ever); without them it is one local process.

How a step stays the step of one process on the whole batch (``--batch-size`` is the global batch):
- Every rank draws the same batch order and takes rows ``shard(rows)[rank]`` of each global batch.
  The step runs inside ``data_parallel_step(offset, total)``; the local loss is weighted by
  ``local rows / global rows`` before backward, and ``sum_gradients`` then all-reduces (sums)
  every gradient and the weighted loss in one flat buffer, so each rank holds the gradient of
  the global batch's mean loss. BayesBiNN's natural-gradient estimate
  ĝ = N/S · Σ_s g_s ⊙ (1 − w_s²)/(τ(1 − μ²)) is linear in g_s with a scale every rank computes
  alike, so it is averaged over the ranks before the λ update; STE, PBNet and LNS take the same
  averaged gradient into Adam.
- Randomness comes from torch's global generator, seeded alike on every rank and consumed alike:
  BayesBiNN's relaxed samples (the same posterior sample on every rank) and the per-row noise of
  PBNet-S and of PBNet's max-pooling, which ``rows_rand_like`` / ``rows_randn_like`` draw for
  the global batch before each rank keeps its own rows.
- Batchnorm is synchronised: ``synchronise_batchnorm(model)`` makes every batchnorm layer of a
  model normalise, in a training step, by the moments of the global batch (sums all-reduced with
  autograd, shifted by the running mean against cancellation; running statistics updated with
  the global count, as torch's). torch's ``SyncBatchNorm`` refuses CPU tensors, so this one serves
  gloo and nccl alike; outside a step (validation, read-outs) a layer computes as before.
  ``global_batch_moments`` gives PBNet's mixture batchnorm the same global moments.
A 2-rank run equals the 1-process run on the same global batches to float tolerance
(``tests/train/test_distributed.py``). A last global batch with fewer rows than ranks is
skipped when world_size > 1 (no rank may compute on no rows).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta
from types import MethodType

import torch
import torch.distributed as dist
from torch import nn

from bnn2hw.train.device import resolve_device

PROCESS_GROUP_TIMEOUT = timedelta(minutes=5)  # the longest a rank waits for the others in a collective


@dataclass(frozen=True)
class Runtime:
    """Where this process trains: its device, its rank among ``world_size`` processes."""

    device: torch.device
    rank: int = 0
    world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def writes(self) -> bool:
        """Rank 0 alone writes checkpoints, metrics and plots."""
        return self.rank == 0


class PeerFailed(RuntimeError):
    """Another rank stopped answering or died; this rank stops too."""


def local_runtime(device: str = "auto") -> Runtime:
    return Runtime(resolve_device(device))


def start_runtime(device: str, init_method: str = "env://", rank: int | None = None,
                  world_size: int | None = None) -> Runtime:
    """The process group torchrun describes (or ``rank`` / ``world_size`` / ``init_method`` given), joined."""
    world = world_size if world_size is not None else int(os.environ.get("WORLD_SIZE", "1"))
    rank = rank if rank is not None else int(os.environ.get("RANK", "0"))
    if world <= 1:
        return local_runtime(device)
    if device.startswith("cuda:"):
        raise ValueError(f"--device {device}: with several processes each rank takes cuda:LOCAL_RANK; "
                         "give --device cuda or auto")
    target = resolve_device(device, int(os.environ.get("LOCAL_RANK", rank)))
    if target.type == "cuda":
        torch.cuda.set_device(target)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if target.type == "cuda" else "gloo", init_method=init_method,
                                rank=rank, world_size=world, timeout=PROCESS_GROUP_TIMEOUT)
    return Runtime(target, rank, world)


def stop_runtime(runtime: Runtime) -> None:
    if runtime.distributed and dist.is_initialized():
        dist.destroy_process_group()


def shard(rows: torch.Tensor, runtime: Runtime) -> tuple[torch.Tensor, int]:
    """(this rank's rows of a global batch, their offset in it): contiguous, sizes differ by <= 1."""
    parts = torch.tensor_split(rows, runtime.world_size)
    return parts[runtime.rank], sum(len(p) for p in parts[:runtime.rank])


@dataclass(frozen=True)
class _Step:
    offset: int
    local: int
    total: int


_STEP: _Step | None = None  # the data-parallel step running now (None: none, or one process)


@contextlib.contextmanager
def data_parallel_step(offset: int, local: int, total: int):
    """A training step on rows ``offset .. offset + local`` of a global batch of ``total`` rows."""
    global _STEP
    _STEP = _Step(offset, local, total)
    try:
        yield
    finally:
        _STEP = None


def _collective(fn, *args):
    try:
        return fn(*args)
    except (RuntimeError, dist.DistError) as err:  # gloo / nccl: a peer closed its socket or timed out
        raise PeerFailed(f"rank {dist.get_rank()}: lost the other ranks ({str(err).splitlines()[0]})") from None


class _AllReduceSum(torch.autograd.Function):
    """Sum over the ranks, with its gradient: the sum over the ranks of the incoming gradients."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone()
        _collective(dist.all_reduce, total)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        total = grad.clone()
        _collective(dist.all_reduce, total)
        return total


def all_sum(values: list[float], runtime: Runtime) -> list[float]:
    """Element-wise sums over the ranks (float64)."""
    if not runtime.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=runtime.device)
    _collective(dist.all_reduce, t)
    return t.tolist()


def sum_gradients(params: list[torch.Tensor], weighted_loss: torch.Tensor) -> torch.Tensor:
    """Every gradient and the weighted loss summed over the ranks (one all-reduce); the global loss."""
    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads] + [weighted_loss.detach().reshape(1)])
    _collective(dist.all_reduce, flat)
    start = 0
    for g in grads:
        g.copy_(flat[start:start + g.numel()].view_as(g))
        start += g.numel()
    return flat[-1]


def _noise_rows(shape, like: torch.Tensor, draw) -> torch.Tensor:
    if _STEP is None:
        return draw(shape, dtype=like.dtype, device=like.device)
    full = draw((_STEP.total, *shape[1:]), dtype=like.dtype, device=like.device)
    return full[_STEP.offset:_STEP.offset + _STEP.local]


def rows_rand_like(t: torch.Tensor) -> torch.Tensor:
    """``torch.rand_like(t)`` of the rows (dim 0) this rank holds of the global batch."""
    return _noise_rows(t.shape, t, torch.rand)


def rows_randn_like(t: torch.Tensor) -> torch.Tensor:
    """``torch.randn_like(t)`` of the rows (dim 0) this rank holds of the global batch."""
    return _noise_rows(t.shape, t, torch.randn)


def _syncing() -> bool:
    return _STEP is not None and dist.is_initialized() and dist.get_world_size() > 1


def global_batch_moments(tensors: list[torch.Tensor], dims: list[int]) -> list[torch.Tensor]:
    """Means over ``dims`` of each tensor, over the global batch (differentiable); local off a step."""
    if not _syncing():
        return [t.mean(dims) for t in tensors]
    count = tensors[0].numel() // tensors[0].shape[1]
    sums = torch.cat([t.sum(dims) for t in tensors] + [tensors[0].new_tensor([float(count)])])
    sums = _AllReduceSum.apply(sums)
    channels = tensors[0].shape[1]
    return [sums[i * channels:(i + 1) * channels] / sums[-1] for i in range(len(tensors))]


def _synced_forward(bn: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    if not (bn.training and _syncing()):
        return type(bn).forward(bn, x)
    dims = [0] + list(range(2, x.dim()))
    shape = [1, -1] + [1] * (x.dim() - 2)
    shift = bn.running_mean.detach().clone().view(shape)  # the same on every rank: sums without cancellation
    centred = x - shift
    local = x.numel() // x.shape[1]
    sums = torch.cat([centred.sum(dims), (centred * centred).sum(dims), x.new_tensor([float(local)])])
    sums = _AllReduceSum.apply(sums)
    c, count = x.shape[1], sums[-1]
    mean_c = sums[:c] / count
    var = sums[c:2 * c] / count - mean_c * mean_c
    mean = mean_c + shift.view(-1)
    with torch.no_grad():
        bn.num_batches_tracked += 1
        m = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
        bn.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
        bn.running_var.mul_(1 - m).add_(var.detach() * count / (count - 1).clamp_min(1), alpha=m)
    out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + bn.eps)
    return out * bn.weight.view(shape) + bn.bias.view(shape) if bn.affine else out


def synchronise_batchnorm(model: nn.Module) -> None:
    """Every batchnorm layer of ``model`` normalises by the global batch inside a data-parallel step."""
    for bn in model.modules():
        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
            if not bn.track_running_stats:
                raise ValueError("synchronised batchnorm needs running statistics")
            bn.forward = MethodType(_synced_forward, bn)

