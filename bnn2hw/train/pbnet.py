"""PBNet: probabilistic binary networks (Peters & Welling, arXiv 1809.03368).

Each binary weight w ∈ {−1, +1} is an independent Bernoulli with mean θ ∈ (−1, 1), so
E[w] = θ, Var[w] = 1 − θ². The binary layer's ``weight`` holds a real ``a`` with θ = tanh a;
then P(w = +1) = (1 + θ)/2 = sigmoid(2a), exactly the Bernoulli that
``bnn2hw.train.method_base.binary_weights(..., ReadOut.SAMPLE)`` draws from a latent, so the
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
    max-pool 2×2   the paper's stochastic max-pooling, on the pre-activation Gaussians (after
                   batchnorm, before the sign; sign is monotone, so the pooled network computes
                   sign(max) = max(sign) like the compiled one): draw s ~ N(μ, σ²) per unit and
                   pass on the (μ, σ²) of the argmax of s in each window; the gradient reaches
                   the selected unit's moments (``gaussian_maxpool``)
    output scale   (s·μ, s²·σ²)

Loss (``TrainConfig.pbnet_loss``, a ``PBNetLoss``), the paper's two (its Section 4.1), on the
output Gaussians (μ, σ²): ``ce`` (default), the cross-entropy of the mean logits μ; ``bce`` (the
paper's best results), a binarization step on each output, p_c = P(score_c ≥ 0) = Φ(μ_c/σ_c),
then the per-class binary cross-entropy −log p_y − Σ_{c≠y} log(1 − p_c) (as log Φ, stable for
large |μ/σ|). The output scale does not change μ/σ, so under ``bce`` it only serves the
softmax of the compiled networks and is fitted by a cross-entropy that reaches it alone
(``output_scale_fit``). There is no KL term: the paper's objective has none.

Initialisation: uniform a ~ U(−1, 1), or, as the paper does for its best results, from a
trained run's real weights (``TrainConfig.init``: a full-precision or STE run; θ = W / std(W)
per layer, clipped to ±0.9, a = atanh θ, batchnorm and output scale taken over too). Sampling
from the transferred θ costs a few points in the first epoch; the paper trains to convergence,
and on SFC / Fashion-MNIST 20 epochs from a 10-epoch STE run bring the MAP network level with
STE's where 10 do not (BENCHMARKS.md, "Training methods").

Learning rate (``PBNET_S_LR``, issue 26 item 9): from a ~ U(−1, 1), PBNet-S takes Adam's rate
1e-1 on a, ten times PBNet's. The model and its estimator are the same at either rate; the step
is what lets a from-scratch start leave its noise. At the start every weight is far from certain
(|θ| ≈ 0.44, Var w = 1 − θ² ≈ 0.76), so each sampled sign is mostly noise and two activation
draws of one image are uncorrelated after two or three sampled layers (digits, at init). PBNet's
gradient is exact; PBNet-S's is one draw of the activations: from the fourth of eight sampled
layers of an MLP on, its per-weight |mean|/sd over draws is at chance (0.13, first layer 0.74).
Adam moves a by about the rate times that ratio per step. On CNV / digits (500 images, batch
50, MAP network with re-estimated batchnorm) 60 steps at 1e-2 left |θ| at 0.43–0.44 and the
network at chance (0.08 validation accuracy; the full ``train --model cnv --dataset digits
--method pbnet-s --epochs 10``: training accuracy 0.08–0.105). At 1e-1 the first layers' |θ|
grows (0.43 → 0.75 in 50 steps), the network becomes certain enough for the image to reach the
output, and it learns: 0.57 after those 50 steps; an MLP of eight hidden layers of 128 reaches
0.79 after 100 steps (at 1e-2: 0.21; 0.24 from a ~ U(−3, 3), 0.29 with the relaxed sample as
the forward). The full CNV command at 1e-1 (130 steps): training accuracy 0.09, 0.10, 0.15,
0.38, 0.56, 0.65, 0.73, 0.78, 0.78, 0.79 by epoch, validation 0.78 at the end, MAP test 0.78
(PBNet 0.54, STE 0.75 with the same command; 0.11 before STE re-estimated its batchnorm
statistics). With many steps 1e-2 learns too: BENCHMARKS.md's PBNet-S row (SFC on
Fashion-MNIST, 5,400 steps) was measured at 1e-2; ``--lr 1e-2`` reproduces it.

Under data-parallel training (``bnn2hw.train.distributed``) the batch moments are those of the
global batch and the activation and max-pooling noise is drawn for the global batch, each rank
keeping its rows, so a run does not depend on the number of ranks.

Batchnorm running statistics are updated with the mixture moments above; after training,
``bnn2hw.train.uncertainty.settle_map_batchnorm`` (PBNet's ``settle``) re-estimates them for the
MAP network (sign θ) on training batches (``bnn2hw.train.batchnorm``), so the checkpoint's model state is the compiled MAP
network's. Ensemble members, and samples
compiled with ``compile_run(sample=k)``, re-estimate their own statistics
(``bnn2hw.train.evaluate.ensemble_probs``, ``bnn2hw.compile.api.member_batchnorm``).
"""

from __future__ import annotations

import math
from enum import Enum

import torch
import torch.nn as nn
import torch.nn.functional as F

from bnn2hw.models import BinaryConv2d, BinaryLinear, BinaryNet, InputQuant, OutputScale, SignActivation
from bnn2hw.train.checkpoint import load_matching_run
from bnn2hw.train.distributed import global_batch_moments, rows_rand_like, rows_randn_like
from bnn2hw.train.ste import ClippedAdam

A_MAX = 3.0            # |a| bound: θ = tanh a stays in ±0.995
INIT_THETA_MAX = 0.9   # |θ| bound of a transferred initialisation (the paper's)
VAR_FLOOR = 1e-8       # keeps μ/σ finite when every weight of a unit is nearly certain
CONCRETE_TEMPERATURE = 1.0
PBNET_LR = 1e-2       # Adam's default rate on a, PBNet
PBNET_S_LR = 1e-1     # PBNet-S from scratch: its one-sample gradients need a 10× larger step (docstring)


class PBNetLoss(str, Enum):
    CE = "ce"    # cross-entropy of the mean logits
    BCE = "bce"  # per-class binary cross-entropy of the mean logits


class PBNetAdam(ClippedAdam):
    """Adam, then a of ``binary=True`` groups clipped to [−A_MAX, A_MAX]; carries the loss kind."""

    def __init__(self, params, lr: float = 1e-2, loss: str = "ce", **kwargs):
        super().__init__(params, lr=lr, clip=A_MAX, **kwargs)
        self.loss = PBNetLoss(loss)


def init_pbnet_weights(model: BinaryNet, init_run: str | None = None) -> None:
    """a ~ U(−1, 1) (θ within ±0.76) from torch's global generator, or transferred from the
    trained run ``init_run`` (θ = W/std clipped to ±INIT_THETA_MAX); MAP read-out on."""
    if init_run is None:
        for layer in model.binary_layers():
            with torch.no_grad():
                layer.weight.uniform_(-1.0, 1.0)
    else:
        latent = load_matching_run(model, init_run)
        for layer, weights in zip(model.binary_layers(), latent, strict=True):
            layer.weight.data.copy_(transferred_logits(weights.to(layer.weight.dtype)))
    model.set_binarize_weights(True)  # a plain forward is the MAP network sign(a)


def transferred_logits(weights: torch.Tensor) -> torch.Tensor:
    """a = atanh(clip(W / std W, ±INIT_THETA_MAX)): the paper's transfer of real weights."""
    theta = (weights / weights.std().clamp_min(VAR_FLOOR)).clamp(-INIT_THETA_MAX, INIT_THETA_MAX)
    return torch.atanh(theta)


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
        batch_mean, second = global_batch_moments([mean, var + mean * mean], dims)  # over every rank's rows
        batch_var = second - batch_mean * batch_mean
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
    noise = rows_rand_like(p).clamp(1e-6, 1 - 1e-6).logit()
    soft = 2.0 * torch.sigmoid((p.logit() + noise) / temperature) - 1.0
    hard = torch.where(soft >= 0, torch.ones_like(soft), -torch.ones_like(soft))
    return hard + soft - soft.detach()


def gaussian_maxpool(mean: torch.Tensor, var: torch.Tensor, kernel: int = 2,
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's max-pooling of Gaussian units: s ~ N(μ, σ²), then (μ, σ²) at argmax s per window."""
    draw = mean + torch.sqrt(var + VAR_FLOOR) * rows_randn_like(mean)
    _, index = F.max_pool2d(draw.detach(), kernel, return_indices=True)
    flat = index.flatten(2)
    pick = lambda t: t.flatten(2).gather(2, flat).view_as(index)  # noqa: E731
    return pick(mean), pick(var)


def pbnet_forward(model: BinaryNet, images: torch.Tensor, sample_activations: bool = False,
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, variance) of the output scores of the probabilistic network."""
    mean, var = None, None
    layers = list(model.layers)
    for i, layer in enumerate(layers):
        pool_next = i + 1 < len(layers) and isinstance(layers[i + 1], nn.MaxPool2d)
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
            if pool_next:  # pool the pre-activations (the paper's order); the pool layer passes
                mean, var = gaussian_maxpool(mean, var, layers[i + 1].kernel_size)
            p = sign_probability(mean, var)
            if sample_activations:
                mean = sampled_sign(p)
                var = torch.zeros_like(mean)
            else:
                mean = 2.0 * p - 1.0
                var = 1.0 - mean * mean
        elif isinstance(layer, nn.MaxPool2d):
            if not isinstance(layers[i - 1], SignActivation):
                raise TypeError("PBNet pools pre-activations: a max-pool must follow a sign activation")
        elif isinstance(layer, OutputScale):
            s = layer.log_scale.exp()
            mean, var = mean * s, var * s * s
        else:
            raise TypeError(f"PBNet cannot propagate moments through {type(layer).__name__}")
    return mean, var


def pbnet_loss(model: BinaryNet, images: torch.Tensor, labels: torch.Tensor,
               sample_activations: bool = False, loss: PBNetLoss = PBNetLoss.CE,
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(the batch-mean loss of the output Gaussians, their mean logits μ)."""
    mean, var = pbnet_forward(model, images, sample_activations)
    if PBNetLoss(loss) is PBNetLoss.BCE:
        return binarized_output_bce(mean, var, labels) + output_scale_fit(model, mean, labels), mean
    return F.cross_entropy(mean, labels), mean


def output_scale_fit(model: BinaryNet, mean: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the logits with a gradient for the output scale only: μ/σ does not see
    the scale, so under BCE this alone fits it, for the softmax of the mode network and samples."""
    output = model.layers[-1]
    if not isinstance(output, OutputScale):
        raise TypeError(f"PBNet's bce loss needs an OutputScale last, got {type(output).__name__}")
    scale = output.log_scale.exp()
    return F.cross_entropy((mean / scale).detach() * scale, labels)


def binarized_output_bce(mean: torch.Tensor, var: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The paper's Eq. 14 on p_c = Φ(μ_c/σ_c): −log p_y − Σ_{c≠y} log(1 − p_c), batch mean."""
    z = mean / torch.sqrt(var + VAR_FLOOR)
    signed = torch.where(F.one_hot(labels, mean.shape[1]).bool(), z, -z)  # 1 − Φ(z) = Φ(−z)
    return -torch.special.log_ndtr(signed).sum() / len(labels)
