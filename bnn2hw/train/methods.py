"""Training methods: the registry from a method's name to how a model is optimised and read out.

Contract (names, read-outs and weight sampling live in ``bnn2hw.train.method_base``):
- ``make_optimizer(method, model, config, train_set_size)`` puts the weights of the binary
  layers in a ``binary=True`` parameter group and everything else (batchnorm affine,
  output scale) in another, and sets how binary layers read their weights.
- ``latent_weights(method, model, optimizer)`` returns, per binary layer in order, the
  tensor whose sign is the network that goes to hardware: λ for BayesBiNN, the real
  latent weights for STE. Checkpoints store these.
- A ``MethodSpec`` may replace three steps of the loop: ``train_loss(model, optimizer, x, y)
  -> (loss, logits)`` (default: cross-entropy of ``model(x)``), ``latent(model, optimizer)``
  (default above) and ``evaluate(model, method, latent, data, config) -> readouts`` (default
  ``bnn2hw.train.evaluate.evaluate_readouts`` on the test split), and add one: ``settle(model,
  method, latent, data, config)``, run once after training and before the read-outs, for state
  the checkpoint keeps (BayesBiNN's population batchnorm statistics, the mode network's of
  PBNet, STE and LNS); with ``settle_each_epoch`` also before every epoch's validation, for a
  settle that touches only state the training forward does not read (running statistics).
- STE and LNS re-estimate the mode network's batchnorm statistics on training batches
  (``settle_map_batchnorm``), as PBNet does: their running averages mix the networks of the
  last ~1/momentum steps, whose binary weights keep flipping (Nagel et al. 2022, "Overcoming
  oscillations in quantization-aware training", re-estimate them for this reason). The network
  is hypersensitive to that staleness where a channel's pre-activations pile up on one value:
  CNV on 8×8 digits zero-padded to 32×32 has ~95% of a first-layer channel at the background
  value with batchnorm's threshold next to it, so a mean off by a fraction of a standard
  deviation flips the whole background of the feature map. Measured on CNV / digits / STE, 10
  epochs: running statistics 0.11 test accuracy (the compiled integer network too), batch
  statistics 0.77, re-estimated 0.75; the MLPs (tfc, sfc on digits) differ by under 0.01.
  PBNet (``pbnet``, ``pbnet-s``; ``config.init`` transfers a trained run's weights) and LNS
  (``lns``, needs ``config.init``) use them; see ``bnn2hw.train.pbnet`` and ``lns``. STE with
  ``config.init`` continues a trained run (its latents clipped to ±1): the plain fine-tuning
  control for LNS's extra epochs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from bnn2hw.models import BinaryNet
from bnn2hw.train.bayesbinn import BayesBiNN
from bnn2hw.train.checkpoint import load_matching_run
from bnn2hw.train.lns import build_lns_optimizer, lns_latent, lns_loss
from bnn2hw.train.method_base import Method
from bnn2hw.train.pbnet import PBNET_LR, PBNET_S_LR, PBNetAdam, init_pbnet_weights, pbnet_loss
from bnn2hw.train.presets import bayesbinn_settings
from bnn2hw.train.ste import STEAdam
from bnn2hw.train.uncertainty import map_and_ensemble_readouts, population_batchnorm, settle_map_batchnorm


@dataclass(frozen=True)
class MethodSpec:
    default_lr: float | None  # None: the optimizer's settings choose (BayesBiNN: the preset's rate)
    build: Callable[..., torch.optim.Optimizer]
    train_loss: Callable | None = None   # (model, optimizer, x, y) -> (loss, logits)
    latent: Callable | None = None       # (model, optimizer) -> latent tensors
    evaluate: Callable | None = None     # (model, method, latent, data, config) -> readouts
    settle: Callable | None = None       # (model, method, latent, data, config) -> None, before evaluate
    init_lr: float | None = None         # default rate when starting from a trained run (--init)
    settle_each_epoch: bool = False      # settle before each epoch's validation too (running stats only)


def split_parameters(model: BinaryNet) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
    """(binary layer weights, every other parameter)."""
    binary = [layer.weight for layer in model.binary_layers()]
    binary_ids = {id(p) for p in binary}
    return binary, [p for p in model.parameters() if id(p) not in binary_ids]


def _build_bayesbinn(model: BinaryNet, config, train_set_size: int, lr: float) -> BayesBiNN:
    model.set_binarize_weights(False)
    binary, other = split_parameters(model)
    settings = asdict(bayesbinn_settings(config))
    preset_lr = settings.pop("lr")
    settings.pop("mode_batchnorm_share")  # applied after training (_settle_bayesbinn), not a step setting
    return BayesBiNN([{"params": binary, "binary": True}, {"params": other, "lr": config.bn_lr}],
                     train_set_size=train_set_size, lr=preset_lr if lr is None else lr, **settings)


def _build_ste(model: BinaryNet, config, train_set_size: int, lr: float) -> STEAdam:
    if config.init is not None:  # plain fine-tuning of a trained run: the control for LNS's extra epochs
        for layer, latent in zip(model.binary_layers(), load_matching_run(model, config.init), strict=True):
            layer.weight.data.copy_(latent.clamp(-1.0, 1.0))
    model.set_binarize_weights(True)
    binary, other = split_parameters(model)
    return STEAdam([{"params": binary, "binary": True}, {"params": other, "lr": config.bn_lr}], lr=lr)


def _build_pbnet(model: BinaryNet, config, train_set_size: int, lr: float) -> PBNetAdam:
    init_pbnet_weights(model, config.init)
    binary, other = split_parameters(model)
    return PBNetAdam([{"params": binary, "binary": True}, {"params": other, "lr": config.bn_lr}], lr=lr,
                     loss=config.pbnet_loss)


def _settle_bayesbinn(model, method, latent, data, config) -> None:
    """With ``mode_batchnorm_share`` set, batchnorm statistics of the mode network and the
    posterior's samples mixed (kept in the model, so compile folds them)."""
    share = bayesbinn_settings(config).mode_batchnorm_share
    if share is not None:
        population_batchnorm(model, method, latent, data.x_train, share, config.seed)


def _pbnet_spec(sample_activations: bool) -> MethodSpec:
    def loss(model, optimizer, images, labels):
        return pbnet_loss(model, images, labels, sample_activations, optimizer.loss)
    # from a trained start 2e-2 recovers the first epoch's loss better (BENCHMARKS.md, "Training methods");
    # from scratch PBNet-S needs a larger step than PBNet's (PBNET_S_LR, see bnn2hw.train.pbnet)
    return MethodSpec(default_lr=PBNET_S_LR if sample_activations else PBNET_LR, build=_build_pbnet,
                      train_loss=loss, settle=settle_map_batchnorm, evaluate=map_and_ensemble_readouts,
                      init_lr=2e-2)


METHODS: dict[Method, MethodSpec] = {
    # lr for BayesBiNN acts on λ (its preset's, bnn2hw.train.presets), for STE on the latent
    # weights; chosen on tfc/digits and sfc/fashion-mnist (BENCHMARKS.md).
    Method.BAYESBINN: MethodSpec(default_lr=None, build=_build_bayesbinn, settle=_settle_bayesbinn),
    # STE and LNS: the mode network's batchnorm statistics re-estimated (see the contract above)
    Method.STE: MethodSpec(default_lr=1e-2, build=_build_ste, settle=settle_map_batchnorm, settle_each_epoch=True),
    # PBNet: lr acts on a (θ = tanh a); LNS: on the full-precision weights and binarizers.
    Method.PBNET: _pbnet_spec(sample_activations=False),
    Method.PBNET_S: _pbnet_spec(sample_activations=True),
    Method.LNS: MethodSpec(default_lr=1e-3, build=build_lns_optimizer, train_loss=lns_loss, latent=lns_latent,
                           settle=settle_map_batchnorm),
}


def make_optimizer(method: Method, model: BinaryNet, config, train_set_size: int):
    spec = METHODS[Method(method)]
    default = spec.init_lr if config.init is not None and spec.init_lr is not None else spec.default_lr
    lr = config.lr if config.lr is not None else default
    return spec.build(model, config, train_set_size, lr)


def latent_weights(method: Method, model: BinaryNet, optimizer) -> list[torch.Tensor]:
    spec = METHODS[Method(method)]
    if spec.latent is not None:
        return spec.latent(model, optimizer)
    if Method(method) is Method.BAYESBINN:
        return [lam.detach().clone() for lam in optimizer.natural_parameters()]
    return [layer.weight.detach().clone() for layer in model.binary_layers()]

