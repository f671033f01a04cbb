"""Batchnorm statistics re-estimated after training, for networks whose binary weights at
read-out are not the ones training normalised.

Contract:
- ``reestimate_batchnorm(model, images, batches=10, seed=0, around_batch=None)``: every
  batchnorm layer's running mean and variance ← their average over ``batches`` training batches
  (batch order from ``seed``) of the network as it computes now; ``around_batch(i)``, when given,
  is a context manager entered around batch i's forward pass (to change the weights per batch).
- ``running_stats(model)`` / ``set_mixture(model, parts)``: the layers' (mean, var) pairs, and
  running stats ← the moments of a mixture of populations ``[(share, stats), ...]`` (shares sum
  to 1): mean = Σ share·mean, var = Σ share·(var + mean²) − mean², per channel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn

REESTIMATE_BATCHES = 10  # PBNet's members (and its MAP network), as the paper


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, images: np.ndarray, batch_size: int = 100,
                         batches: int = REESTIMATE_BATCHES, seed: int = 0,
                         around_batch: Callable[[int], object] | None = None) -> None:
    """Batchnorm running stats ← the average over ``batches`` training batches of the network
    as it computes now (its binary weights must already be the ones to evaluate)."""
    bns = batchnorm_layers(model)
    if not bns:
        return
    was_training, momenta = model.training, [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    order = np.random.default_rng(seed).permutation(len(images))
    device = next(model.parameters()).device
    model.train()
    for i in range(min(batches, math.ceil(len(images) / batch_size))):
        with around_batch(i) if around_batch is not None else nullcontext():
            model(torch.from_numpy(images[order[i * batch_size:(i + 1) * batch_size]]).to(device))
    for bn, m in zip(bns, momenta):
        bn.momentum = m
    model.train(was_training)


def running_stats(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(bn.running_mean.clone(), bn.running_var.clone()) for bn in batchnorm_layers(model)]


@torch.no_grad()
def set_mixture(model: nn.Module, parts: list[tuple[float, list[tuple[torch.Tensor, torch.Tensor]]]]) -> None:
    """Running stats ← the mixture moments of ``parts`` ((share, running_stats) pairs)."""
    if not math.isclose(sum(share for share, _ in parts), 1.0):
        raise ValueError(f"mixture shares must sum to 1, got {[share for share, _ in parts]}")
    for i, bn in enumerate(batchnorm_layers(model)):
        mean = sum(share * stats[i][0] for share, stats in parts)
        second = sum(share * (stats[i][1] + stats[i][0] ** 2) for share, stats in parts)
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(second - mean ** 2)
