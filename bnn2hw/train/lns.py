"""LNS: learned binarization with noisy supervision (Han et al., arXiv 2010.04871).

A fine-tuning stage on top of a trained BNN (``TrainConfig(method="lns", init="runs/NAME")``).
Instead of w_b = sign(w) element by element, a small network per binary layer maps each
row of the full-precision weights (a linear layer's output row, a conv filter flattened to
C·k·k) jointly to binary logits z, and the network computes with sign(z):

    u = (w − 0) / std(w_row)                          (row-normalised weights)
    z = g·u + MLP([u, mean/std, std/mean_row std]) + (u V) U     (per element, plus a rank-r
                                                                 mixing of the whole row)
    w_b = sign_ste(z)                                 (straight-through where |z| ≤ 1)

Supervision: the source run's binary weights ỹ = sign(latent) are noisy labels of the
"right" binary weights. With the logistic loss ℓ(z, y) = log(1 + e^{−yz}) and flip rates
ρ₊ = P(ỹ = −1 | y = +1), ρ₋ = P(ỹ = +1 | y = −1), the unbiased estimator of Natarajan et
al. (2013), used by the paper, is

    ℓ̃(z, ỹ) = [(1 − ρ_{−ỹ}) ℓ(z, ỹ) − ρ_{ỹ} ℓ(z, −ỹ)] / (1 − ρ₊ − ρ₋),

whose expectation over the label noise is the clean loss ℓ(z, y). The training loss is
cross-entropy + β · mean over all weights of ℓ̃. Full-precision weights (initialised from
the source latent divided by its largest magnitude), binarizers, batchnorm affine and the
output scale are trained by Adam; batchnorm statistics start from the source run.

Contract: ``build_lns_optimizer`` is the method's ``build`` (it loads ``config.init``),
``lns_loss`` its ``train_loss``, ``lns_latent`` its ``latent``: the logits z per layer, whose
sign is the hardware network, so ``compile_run`` compiles an LNS run like any other. The
binarizers' parameters travel in the optimizer's state dict (resume works).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from bnn2hw.models import BinaryNet, sign_ste
from bnn2hw.train.checkpoint import CheckpointError, load_checkpoint, load_into

STD_FLOOR = 1e-8


@dataclass(frozen=True)
class LNSConfig:
    flip_plus: float = 0.1     # ρ₊ = P(noisy −1 | clean +1)
    flip_minus: float = 0.1    # ρ₋ = P(noisy +1 | clean −1)
    label_weight: float = 0.1  # β, weight of the noisy-supervision loss
    hidden: int = 16           # MLP width of each binarizer
    rank: int = 4              # rank of the row-mixing term

    def __post_init__(self):
        if self.flip_plus < 0 or self.flip_minus < 0 or self.flip_plus + self.flip_minus >= 1:
            raise ValueError("need flip rates >= 0 with flip_plus + flip_minus < 1")


def unbiased_logistic_loss(z: torch.Tensor, noisy: torch.Tensor, flip_plus: float, flip_minus: float,
                           ) -> torch.Tensor:
    """Natarajan et al.'s noise-corrected ℓ̃(z, ỹ) per element, ỹ ∈ {−1, +1}."""
    rho_same = torch.where(noisy > 0, torch.full_like(z, flip_plus), torch.full_like(z, flip_minus))
    rho_other = torch.where(noisy > 0, torch.full_like(z, flip_minus), torch.full_like(z, flip_plus))
    loss_same, loss_flipped = F.softplus(-noisy * z), F.softplus(noisy * z)
    return ((1.0 - rho_other) * loss_same - rho_same * loss_flipped) / (1.0 - flip_plus - flip_minus)


class RowBinarizer(nn.Module):
    """Maps rows (R, K) of full-precision weights to binary logits (R, K), row by row."""

    def __init__(self, row_length: int, hidden: int, rank: int):
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(1.0))
        self.mlp = nn.Sequential(nn.Linear(3, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)
        self.mix_in = nn.Parameter(torch.randn(row_length, rank) / row_length ** 0.5)
        self.mix_out = nn.Parameter(torch.zeros(rank, row_length))

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        std = rows.std(1, keepdim=True, unbiased=False) + STD_FLOOR
        u = rows / std
        stats = torch.stack([u, (rows.mean(1, keepdim=True) / std).expand_as(u),
                             (std / std.mean()).expand_as(u)], dim=-1)
        return self.gain * u + self.mlp(stats).squeeze(-1) + (u @ self.mix_in) @ self.mix_out


class LNSAdam(torch.optim.Adam):
    """Adam over weights, binarizers and the rest; holds the binarizers and noisy labels."""

    def __init__(self, param_groups, lr: float, binarizers: nn.ModuleList, noisy_labels: list[torch.Tensor],
                 config: LNSConfig):
        super().__init__(param_groups, lr=lr)
        for group in self.param_groups:
            group.setdefault("binary", False)
        self.binarizers, self.noisy_labels, self.lns_config = binarizers, noisy_labels, config

    def state_dict(self):
        return {**super().state_dict(), "binarizers": self.binarizers.state_dict()}

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        self.binarizers.load_state_dict(state_dict.pop("binarizers"))
        super().load_state_dict(state_dict)


def _check_same_model(model: BinaryNet, source: dict, path: Path) -> None:
    mine = {**asdict(model.config), "in_shape": list(model.config.in_shape)}
    theirs = {**source["model_config"], "in_shape": list(source["model_config"]["in_shape"])}
    if mine != theirs:
        raise CheckpointError(f"{path}: --init run has model {theirs}, this run builds {mine}")


def build_lns_optimizer(model: BinaryNet, config, train_set_size: int, lr: float) -> LNSAdam:
    """Load ``config.init``'s run into ``model`` and set up binarizers and noisy labels."""
    if not getattr(config, "init", None):
        raise ValueError("method 'lns' fine-tunes a trained run: give init=RUN_DIR (--init)")
    path = Path(config.init) / "checkpoint.pt"
    source = load_checkpoint(path)
    _check_same_model(model, source, path)
    load_into(model, source, path)
    model.set_binarize_weights(False)
    noisy, binarizers, lns = [], nn.ModuleList(), LNSConfig()
    for layer, latent in zip(model.binary_layers(), source["latent"], strict=True):
        latent = latent.detach().to(layer.weight.dtype)
        layer.weight.data.copy_(latent / latent.abs().amax().clamp_min(STD_FLOOR))
        noisy.append(torch.where(latent >= 0, 1.0, -1.0).reshape(latent.shape[0], -1))
        binarizers.append(RowBinarizer(noisy[-1].shape[1], lns.hidden, lns.rank))
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
        unbiased_logistic_loss(z.reshape(z.shape[0], -1), noisy, cfg.flip_plus, cfg.flip_minus).flatten()
        for z, noisy in zip(logits_z, optimizer.noisy_labels)]).mean()
    return F.cross_entropy(logits, labels) + cfg.label_weight * supervision, logits


@torch.no_grad()
def lns_latent(model: BinaryNet, optimizer: LNSAdam) -> list[torch.Tensor]:
    return [z.detach().clone() for z in binary_logits(model, optimizer)]
