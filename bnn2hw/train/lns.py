"""LNS: learned binarization with noisy supervision (Han et al., arXiv 2010.04871).

A fine-tuning stage on top of a trained BNN (``TrainConfig(method="lns", init="runs/NAME")``).
Instead of w_b = sign(w) element by element, a small mapping network per binary layer takes
each row of the full-precision weights (a linear layer's output row, a conv filter flattened
to C·k·k) as a whole and maps it to binary logits z; the network computes with sign(z):

    u = w_row / std(w_row)                              (the row, normalised)
    z = g·u + W₂ tanh(W₁ u + b₁) + b₂                   (one network for every row of the layer;
                                                         W₂, b₂ start at 0, so z starts as g·u)
    w_b = sign_ste(z)                                   (straight-through where |z| ≤ 1)

so each binary weight depends on its whole filter, as in the paper, whose mapping network
also sees a filter at a time. Where this differs: the paper does not fix the network's form
in its summaries; here it is one hidden layer (``hidden`` units, default 16) with a residual
gain, so that training starts from the source run's own binary network.

Supervision: the source run's binary weights ỹ = sign(latent) are noisy labels of the
"right" binary weights. The paper's auxiliary loss is the squared loss, bounded; here on the
straight-through output t = hardtanh(z) ∈ [−1, 1], ℓ(t, y) = (1 − y t)² ∈ [0, 4], so its
gradient is zero outside the window |z| ≤ 1 (it never pushes z further out). With flip rates
ρ₊ = P(ỹ = −1 | y = +1), ρ₋ = P(ỹ = +1 | y = −1), the unbiased estimator of Natarajan et
al. (2013), used by the paper, is

    ℓ̃(t, ỹ) = [(1 − ρ_{−ỹ}) ℓ(t, ỹ) − ρ_{ỹ} ℓ(t, −ỹ)] / (1 − ρ₊ − ρ₋),

whose expectation over the label noise is the clean loss ℓ(t, y); it is bounded because ℓ is.
The training loss is cross-entropy + β · mean over all weights of ℓ̃ (``--lns-weight`` β,
default 0.1; ``--lns-noise-rate`` ρ = ρ₊ = ρ₋, default 0.1). Full-precision weights
(initialised from the source latent divided by its largest magnitude), mapping networks,
batchnorm affine and the output scale are trained by Adam; batchnorm statistics start from
the source run.

Contract: ``build_lns_optimizer`` is the method's ``build`` (it loads ``config.init``),
``lns_loss`` its ``train_loss``, ``lns_latent`` its ``latent``: the logits z per layer, whose
sign is the hardware network, so ``compile_run`` compiles an LNS run like any other. The
binarizers' parameters travel in the optimizer's state dict (resume works).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from bnn2hw.models import BinaryNet, sign_ste
from bnn2hw.train.checkpoint import load_matching_run

STD_FLOOR = 1e-8


@dataclass(frozen=True)
class LNSConfig:
    flip_plus: float = 0.1     # ρ₊ = P(noisy −1 | clean +1)
    flip_minus: float = 0.1    # ρ₋ = P(noisy +1 | clean −1)
    label_weight: float = 0.1  # β, weight of the noisy-supervision loss
    hidden: int = 16           # hidden units of each layer's mapping network

    def __post_init__(self):
        if self.flip_plus < 0 or self.flip_minus < 0 or self.flip_plus + self.flip_minus >= 1:
            raise ValueError("need flip rates >= 0 with flip_plus + flip_minus < 1")
        if self.label_weight < 0:
            raise ValueError(f"the supervision weight must be >= 0, got {self.label_weight}")


def squared_loss(t: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """ℓ(t, y) = (1 − y t)², the paper's bounded auxiliary loss (t ∈ [−1, 1])."""
    return (1.0 - label * t) ** 2


def unbiased_squared_loss(z: torch.Tensor, noisy: torch.Tensor, flip_plus: float, flip_minus: float,
                          ) -> torch.Tensor:
    """Natarajan et al.'s noise-corrected ℓ̃(hardtanh z, ỹ) per element, ỹ ∈ {−1, +1}."""
    t = F.hardtanh(z)
    rho_same = torch.where(noisy > 0, torch.full_like(z, flip_plus), torch.full_like(z, flip_minus))
    rho_other = torch.where(noisy > 0, torch.full_like(z, flip_minus), torch.full_like(z, flip_plus))
    corrected = (1.0 - rho_other) * squared_loss(t, noisy) - rho_same * squared_loss(t, -noisy)
    return corrected / (1.0 - flip_plus - flip_minus)


class RowBinarizer(nn.Module):
    """Maps rows (R, K) of full-precision weights to binary logits (R, K), a whole row at a time."""

    def __init__(self, row_length: int, hidden: int):
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(1.0))
        self.mlp = nn.Sequential(nn.Linear(row_length, hidden), nn.Tanh(), nn.Linear(hidden, row_length))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        u = rows / (rows.std(1, keepdim=True, unbiased=False) + STD_FLOOR)
        return self.gain * u + self.mlp(u)


class LNSAdam(torch.optim.Adam):
    """Adam over weights, binarizers and the rest; holds the binarizers and noisy labels."""

    def __init__(self, param_groups, lr: float, binarizers: nn.ModuleList, noisy_labels: list[torch.Tensor],
                 config: LNSConfig):
        super().__init__(param_groups, lr=lr)
        for group in self.param_groups:
            group.setdefault("binary", False)
        self.binarizers, self.noisy_labels, self.lns_config = binarizers, noisy_labels, config

    def move_to(self, device) -> None:
        """Binarizers and noisy labels onto ``device`` (``bnn2hw.train.device.move_training_state``)."""
        self.binarizers.to(device)
        self.noisy_labels = [t.to(device) for t in self.noisy_labels]

    def state_dict(self):
        return {**super().state_dict(), "binarizers": self.binarizers.state_dict()}

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        self.binarizers.load_state_dict(state_dict.pop("binarizers"))
        super().load_state_dict(state_dict)


def build_lns_optimizer(model: BinaryNet, config, train_set_size: int, lr: float) -> LNSAdam:
    """Load ``config.init``'s run into ``model`` and set up binarizers and noisy labels."""
    if not getattr(config, "init", None):
        raise ValueError("method 'lns' fine-tunes a trained run: give init=RUN_DIR (--init)")
    source_latent = load_matching_run(model, config.init)
    model.set_binarize_weights(False)
    rho = config.lns_noise_rate
    lns = LNSConfig(flip_plus=rho, flip_minus=rho, label_weight=config.lns_weight)
    noisy, binarizers = [], nn.ModuleList()
    for layer, latent in zip(model.binary_layers(), source_latent, strict=True):
        latent = latent.detach().to(layer.weight.dtype)
        layer.weight.data.copy_(latent / latent.abs().amax().clamp_min(STD_FLOOR))
        noisy.append(torch.where(latent >= 0, 1.0, -1.0).reshape(latent.shape[0], -1))
        binarizers.append(RowBinarizer(noisy[-1].shape[1], lns.hidden))
    binary = [layer.weight for layer in model.binary_layers()]
    ids = {id(p) for p in binary}
    other = [p for p in model.parameters() if id(p) not in ids]
    groups = [{"params": binary, "binary": True}, {"params": list(binarizers.parameters())},
              {"params": other, "lr": config.bn_lr}]
    return LNSAdam(groups, lr, binarizers, noisy, lns)


def binary_logits(model: BinaryNet, optimizer: LNSAdam) -> list[torch.Tensor]:
    """z per binary layer, shaped like the layer's weight."""
    return [b(layer.weight.reshape(layer.weight.shape[0], -1)).reshape(layer.weight.shape)
            for layer, b in zip(model.binary_layers(), optimizer.binarizers)]


def lns_loss(model: BinaryNet, optimizer: LNSAdam, images: torch.Tensor, labels: torch.Tensor,
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(cross-entropy of the sign(z) network + β · mean unbiased noisy-label loss, logits)."""
    logits_z = binary_logits(model, optimizer)
    names = {id(m): name for name, m in model.named_modules()}
    weights = {f"{names[id(layer)]}.weight": sign_ste(z) for layer, z in zip(model.binary_layers(), logits_z)}
    logits = functional_call(model, weights, (images,))
    cfg = optimizer.lns_config
    supervision = torch.cat([
        unbiased_squared_loss(z.reshape(z.shape[0], -1), noisy, cfg.flip_plus, cfg.flip_minus).flatten()
        for z, noisy in zip(logits_z, optimizer.noisy_labels)]).mean()
    return F.cross_entropy(logits, labels) + cfg.label_weight * supervision, logits


@torch.no_grad()
def lns_latent(model: BinaryNet, optimizer: LNSAdam) -> list[torch.Tensor]:
    return [z.detach().clone() for z in binary_logits(model, optimizer)]
