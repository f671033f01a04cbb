"""PBNet: probabilistic binary networks (Peters & Welling, arXiv 1809.03368).

Each binary weight w ∈ {−1, +1} is an independent Bernoulli with mean θ ∈ (−1, 1), so
E[w] = θ, Var[w] = 1 − θ². The binary layer's ``weight`` holds a real ``a`` with θ = tanh a;
then P(w = +1) = (1 + θ)/2 = sigmoid(2a), exactly the Bernoulli that
``bnn2hw.train.methods.binary_weights(..., ReadOut.SAMPLE)`` draws from a latent, so the
checkpoint's ``latent`` is ``a`` itself, sign(a) = sign(θ) is the MAP network and compiled
samples are draws of this posterior. ``a`` is clipped to [−A_MAX, A_MAX] after each step
(|θ| ≤ tanh 3 ≈ 0.995) so that no weight becomes deterministic and frozen.

Training forward (``pbnet_forward``): every activation is a pair (mean m, variance v) of
independent units, propagated layer by layer (local reparameterisation, central limit):

    binary layer   μ = m·θ,  σ² = Σ_i (v_i + m_i²) − m_i² θ_i²        (E[w²] = 1)
                   deterministic ±1 input: σ² = Σ x²(1 − θ²); stochastic ±1 input: Σ(1 − m²θ²)
    batchnorm      M = E_batch[μ],  V = E_batch[σ² + μ²] − M²    (moments of the mixture)
                   out: γ(μ − M)/√(V + ε) + β,  variance γ² σ² / (V + ε)
    sign (PBNet)   P(+1) = Φ(μ/σ):  mean 2Φ(μ/σ) − 1, variance 1 − mean²    (closed form)
    sign (PBNet-S) a hard binary-concrete sample of that Bernoulli: forward ±1, backward
                   through the relaxation 2·sigmoid((logit P + L)/τ) − 1, L ~ Logistic
    max-pool 2×2   follows sign in CNV, so it is a max of independent ±1 units:
                   P(max = +1) = 1 − Π_i (1 − p_i), exact under independence (no Gaussian
                   max approximation is needed)
    output scale   (s·μ, s²·σ²); the logits are sampled once, μ + σ ε (reparameterised),
                   and the loss is the cross-entropy of that sample.

The objective is the expected cross-entropy only; the paper's KL term to a uniform Bernoulli
prior is left out (with N = 60 000 and ~3·10⁵ weights it would dominate and push θ to 0).
Batchnorm running statistics are updated with the mixture moments above; after training,
``finalize_map_network`` re-estimates them for the MAP network (sign θ) on training batches,
so the checkpoint's model state is the compiled MAP network's. Ensemble members re-estimate
their own statistics (``bnn2hw.train.uncertainty``); a sample compiled with
``compile_run(sample=k)`` uses the MAP statistics (still bit-exact, but less accurate than
the member evaluated with its own statistics).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from bnn2hw.models import BinaryConv2d, BinaryLinear, BinaryNet, InputQuant, OutputScale, SignActivation
from bnn2hw.train.ste import ClippedAdam

A_MAX = 3.0            # |a| bound: θ = tanh a stays in ±0.995
VAR_FLOOR = 1e-8       # keeps μ/σ finite when every weight of a unit is nearly certain
CONCRETE_TEMPERATURE = 1.0
BN_REESTIMATE_BATCHES = 10


class PBNetAdam(ClippedAdam):
    """Adam, then a of ``binary=True`` groups clipped to [−A_MAX, A_MAX]."""

    def __init__(self, params, lr: float = 1e-2, **kwargs):
        super().__init__(params, lr=lr, clip=A_MAX, **kwargs)


def init_pbnet_weights(model: BinaryNet) -> None:
    """a ~ U(−1, 1) (θ within ±0.76) from torch's global generator; MAP read-out on."""
    for layer in model.binary_layers():
        with torch.no_grad():
            layer.weight.uniform_(-1.0, 1.0)
    model.set_binarize_weights(True)  # a plain forward is the MAP network sign(a)


def binary_layer_moments(layer: nn.Module, mean: torch.Tensor, var: torch.Tensor,
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ, σ²) of a ±1-weight layer with P(w=+1) = sigmoid(2a) on independent inputs."""
    theta = torch.tanh(layer.weight)
    op = F.linear if isinstance(layer, BinaryLinear) else F.conv2d
    second_moment = var + mean * mean
    mu = op(mean, theta)
    sigma2 = op(second_moment, torch.ones_like(theta)) - op(mean * mean, theta * theta)
    return mu, sigma2.clamp_min(0.0)


def stochastic_batchnorm(bn: nn.modules.batchnorm._BatchNorm, mean: torch.Tensor, var: torch.Tensor,
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalise Gaussian units by the moments of their batch mixture (running stats updated)."""
    dims = [0] + list(range(2, mean.dim()))
    shape = [1, -1] + [1] * (mean.dim() - 2)
    if bn.training:
        batch_mean = mean.mean(dims)
        batch_var = (var + mean * mean).mean(dims) - batch_mean * batch_mean
        with torch.no_grad():
            m = bn.momentum if bn.momentum is not None else 0.1
            bn.running_mean.mul_(1 - m).add_(batch_mean.detach(), alpha=m)
            bn.running_var.mul_(1 - m).add_(batch_var.detach(), alpha=m)
            bn.num_batches_tracked += 1
    else:
        batch_mean, batch_var = bn.running_mean, bn.running_var
    scale = bn.weight / torch.sqrt(batch_var + bn.eps)
    out_mean = (mean - batch_mean.view(shape)) * scale.view(shape) + bn.bias.view(shape)
    return out_mean, var * (scale * scale).view(shape)


def sign_probability(mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """P(x ≥ 0) = Φ(μ/σ) of a Gaussian unit."""
    z = mean / torch.sqrt(var + VAR_FLOOR)
    return 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))


def sampled_sign(p_plus: torch.Tensor, temperature: float = CONCRETE_TEMPERATURE) -> torch.Tensor:
    """Hard binary-concrete sample: ±1 forward, relaxed 2·sigmoid((logit p + L)/τ) − 1 backward."""
    p = p_plus.clamp(1e-6, 1 - 1e-6)
    noise = torch.rand_like(p).clamp(1e-6, 1 - 1e-6).logit()
    soft = 2.0 * torch.sigmoid((p.logit() + noise) / temperature) - 1.0
    hard = torch.where(soft >= 0, torch.ones_like(soft), -torch.ones_like(soft))
    return hard + soft - soft.detach()


def maxpool_of_signs(mean: torch.Tensor) -> torch.Tensor:
    """Mean of the 2×2 max of independent ±1 units with means ``mean``: 1 − 2Π(1 − p)."""
    log_minus = torch.log((0.5 * (1.0 - mean)).clamp_min(1e-12))   # log P(x = −1)
    all_minus = torch.exp(4.0 * F.avg_pool2d(log_minus, 2))
    return 1.0 - 2.0 * all_minus


def pbnet_forward(model: BinaryNet, images: torch.Tensor, sample_activations: bool = False,
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, variance) of the output scores of the probabilistic network."""
    mean, var = None, None
    for layer in model.layers:
        if isinstance(layer, InputQuant):
            mean = layer(images)
            var = torch.zeros_like(mean)
        elif isinstance(layer, nn.Flatten):
            mean, var = layer(mean), layer(var)
        elif isinstance(layer, (BinaryLinear, BinaryConv2d)):
            mean, var = binary_layer_moments(layer, mean, var)
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            mean, var = stochastic_batchnorm(layer, mean, var)
        elif isinstance(layer, SignActivation):
            p = sign_probability(mean, var)
            if sample_activations:
                mean = sampled_sign(p)
                var = torch.zeros_like(mean)
            else:
                mean = 2.0 * p - 1.0
                var = 1.0 - mean * mean
        elif isinstance(layer, nn.MaxPool2d):
            mean = maxpool_of_signs(mean)
            var = 1.0 - mean * mean
        elif isinstance(layer, OutputScale):
            s = layer.log_scale.exp()
            mean, var = mean * s, var * s * s
        else:
            raise TypeError(f"PBNet cannot propagate moments through {type(layer).__name__}")
    return mean, var


def pbnet_loss(model: BinaryNet, images: torch.Tensor, labels: torch.Tensor,
               sample_activations: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(cross-entropy of reparameterised logits μ + σε, the logits)."""
    mean, var = pbnet_forward(model, images, sample_activations)
    logits = mean + torch.sqrt(var + VAR_FLOOR) * torch.randn_like(mean)
    return F.cross_entropy(logits, labels), logits


@torch.no_grad()
def reestimate_batchnorm(model: BinaryNet, images: np.ndarray, batch_size: int = 100,
                         batches: int = BN_REESTIMATE_BATCHES, seed: int = 0) -> None:
    """Batchnorm running stats ← the average over ``batches`` training batches of the network
    as it computes now (its binary weights must already be the ones to evaluate)."""
    bns = [m for m in model.layers if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    was_training, momenta = model.training, [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    order = np.random.default_rng(seed).permutation(len(images))
    model.train()
    for i in range(min(batches, math.ceil(len(images) / batch_size))):
        model(torch.from_numpy(images[order[i * batch_size:(i + 1) * batch_size]]))
    for bn, m in zip(bns, momenta):
        bn.momentum = m
    model.train(was_training)
