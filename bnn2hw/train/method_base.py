"""What every training method shares, below the registry: names, read-outs and weight sampling.

Contract (imports no method; ``bnn2hw.train.methods`` is the registry built on it, and the
read-out modules ``evaluate`` and ``uncertainty`` import only this one):
- ``Method`` names the methods; ``Method.probabilistic`` is True for those with a posterior to
  sample ensembles from (BayesBiNN, PBNet, PBNet-S).
- ``ReadOut`` says which binary network to evaluate: the posterior ``mode`` (sign of the
  latent), the ``mean`` (tanh λ) or a Bernoulli ``sample`` of the posterior.
- ``binary_weights(method, latent, readout, generator)`` are the weights of that network, one
  tensor per binary layer, on the latents' device; samples are drawn from ``generator`` (a CPU
  generator, or torch's global one) on the CPU, so sample k is the same network on every device.
- ``posterior_plus_probability(latent)`` is q(w = +1) = sigmoid(2·latent) of a probabilistic
  method; ``uncertain_share(latent)`` the share of weights with that probability in
  [0.05, 0.95] (``UNCERTAIN_BAND``): near 0 for a collapsed posterior, whose samples all equal
  the mode network.
- ``use_weights(model, weights)`` (context manager): the model's binary layers compute with
  ``weights``, then get their own back.
"""

from __future__ import annotations

from enum import Enum

import torch

from bnn2hw.models import BinaryNet
from bnn2hw.train.bayesbinn import bernoulli_sample, bipolar_sign


class Method(str, Enum):
    BAYESBINN = "bayesbinn"
    STE = "ste"
    PBNET = "pbnet"
    PBNET_S = "pbnet-s"
    LNS = "lns"

    @property
    def probabilistic(self) -> bool:
        """Has a posterior to sample ensembles from."""
        return self in (Method.BAYESBINN, Method.PBNET, Method.PBNET_S)


class ReadOut(str, Enum):
    MODE = "mode"
    MEAN = "mean"
    SAMPLE = "sample"


def binary_weights(method: Method, latent: list[torch.Tensor], readout: ReadOut,
                   generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """The weights a binary network of this read-out uses, one tensor per binary layer."""
    readout = ReadOut(readout)
    if readout is ReadOut.MODE:
        return [bipolar_sign(t) for t in latent]
    if not Method(method).probabilistic:
        raise ValueError(f"method {Method(method).value!r} has no posterior: only the mode read-out exists")
    if readout is ReadOut.MEAN:
        return [torch.tanh(t) for t in latent]
    return [bernoulli_sample(t, generator) for t in latent]


UNCERTAIN_BAND = (0.05, 0.95)


def posterior_plus_probability(latent: list[torch.Tensor]) -> torch.Tensor:
    """q(w = +1) of every binary weight, flattened in layer order (float64)."""
    return torch.cat([torch.sigmoid(2.0 * t.detach().double()).flatten() for t in latent])


def uncertain_share(latent: list[torch.Tensor], band: tuple[float, float] = UNCERTAIN_BAND) -> float:
    """Share of the weights whose posterior probability q(w = +1) lies in ``band`` (inclusive)."""
    p = posterior_plus_probability(latent)
    return float(((p >= band[0]) & (p <= band[1])).double().mean()) if p.numel() else 0.0


class use_weights:
    """Context manager: the model's binary layers compute with ``weights``, then restore."""

    def __init__(self, model: BinaryNet, weights: list[torch.Tensor]):
        self.model, self.weights = model, weights

    def __enter__(self) -> BinaryNet:
        layers = self.model.binary_layers()
        self.saved = [(layer.weight.detach().clone(), layer.binarize_weights) for layer in layers]
        for layer, w in zip(layers, self.weights, strict=True):
            layer.weight.data.copy_(w)
            layer.binarize_weights = False
        return self.model

    def __exit__(self, *exc) -> None:
        for layer, (w, binarize) in zip(self.model.binary_layers(), self.saved):
            layer.weight.data.copy_(w)
            layer.binarize_weights = binarize
