"""Configuration of one training run (``TrainConfig``) and the learning-rate schedules.

Contract: ``TrainConfig`` is frozen and checks itself on construction (``ValueError`` naming the
option: ``lr`` is ``--lr``). Runtime fields that do not change the result may change on
``--resume`` (``RESUMABLE_CHANGES``: epochs, data_dir, test_samples, device). ``augment`` None
means on for cifar10 and off elsewhere (``augment_enabled``). ``recipe`` names the published
settings the options came from (``bnn2hw.train.recipes``), for the record.
``lr_schedule``: ``cosine`` (the default: half a cosine from the base rate to 0 over the run) or
``step:E:F`` (the rate times F after every E epochs, as Brevitas' bnn_pynq trainer halves it
every 40); ``scheduled_lr(config, base, step, steps_per_epoch)`` is the rate of a step.
``saved_config(dict)`` rebuilds the config a checkpoint stored.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bnn2hw.train.device import check_device_name
from bnn2hw.train.method_base import Method
from bnn2hw.train.presets import DEFAULT_PRESET, check_preset
from bnn2hw.train.recipes import check_recipe


@dataclass(frozen=True)
class TrainConfig:
    model: str = "tfc"
    dataset: str = "digits"
    method: str = Method.BAYESBINN.value
    epochs: int = 20
    lr: float | None = None          # None: the method's default (bnn2hw.train.methods)
    bn_lr: float = 1e-2              # Adam's rate for batchnorm affine and output scale
    batch_size: int = 100
    seed: int = 0
    input_bits: int = 1
    preset: str = DEFAULT_PRESET     # BayesBiNN settings by name (bnn2hw.train.presets); None below: the preset's
    temperature: float | None = None
    mc_samples: int | None = None
    momentum: float | None = None
    lambda_init: float | None = None
    likelihood_scale: float | None = None  # N of the likelihood scaled by this (tempering)
    scale_bound: float | None = None       # natural-gradient scale (1-w²)/(τ(1-μ²)) capped here
    lambda_bound: float | None = None      # |λ| clipped to this after every step
    kl_weight: float | None = None         # strength of the pull towards the prior
    mode_batchnorm_share: float | None = None  # batchnorm stats after training: mode's share, samples' the rest
    test_samples: int = 10           # K of the Bernoulli ensemble at test time
    val_split: float = 0.1
    data_dir: str | None = None
    init: str | None = None          # run a method starts from: lns (needed), pbnet(-s) (transfer), ste (continue)
    pbnet_loss: str = "ce"           # PBNet: cross-entropy of the mean logits ("ce") or per-class BCE of P(score ≥ 0) ("bce")
    lns_noise_rate: float = 0.1      # LNS: ρ, flip rate of the noisy binary labels
    lns_weight: float = 0.1          # LNS: β, weight of the noisy-supervision loss
    device: str = "auto"             # auto, cpu, cuda, cuda:N (bnn2hw.train.device)
    augment: bool | None = None      # random 4-pixel-padded crop + horizontal flip; None: on for cifar10
    lr_schedule: str = "cosine"      # cosine, or step:E:F (rate times F every E epochs)
    recipe: str | None = None        # the named published settings these came from (bnn2hw.train.recipes)

    def __post_init__(self):
        method = Method(self.method)  # raises on an unknown method
        check_preset(self.preset)
        if method is Method.LNS and self.init is None:
            raise ValueError("method 'lns' fine-tunes a trained run: give init (--init RUN_DIR)")
        if self.init is not None and method not in INIT_METHODS:
            raise ValueError(f"init (--init) is for methods {', '.join(m.value for m in INIT_METHODS)}, "
                             f"not {method.value!r}")
        if self.pbnet_loss not in ("ce", "bce"):
            raise ValueError(f"pbnet_loss (--pbnet-loss) must be 'ce' or 'bce', got {self.pbnet_loss!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.test_samples < 0:
            raise ValueError("epochs and batch_size must be >= 1, test_samples >= 0")
        check_device_name(self.device)
        if self.augment not in (None, True, False):
            raise ValueError(f"augment (--augment) must be true, false or unset, got {self.augment!r}")
        parse_schedule(self.lr_schedule)
        if self.recipe is not None:
            check_recipe(self.recipe)
        _check_numbers(self)


# (field, lowest, whether the lowest is allowed, highest or None, whether the highest is allowed); all finite
NUMBER_RANGES = [("lr", 0.0, False, None, False), ("bn_lr", 0.0, True, None, False),
                 ("temperature", 0.0, False, None, False), ("mc_samples", 1, True, None, False),
                 ("momentum", 0.0, True, 1.0, False), ("lambda_init", 0.0, True, None, False),
                 ("likelihood_scale", 0.0, False, None, False), ("lambda_bound", 0.0, False, None, False),
                 ("scale_bound", 0.0, False, None, False), ("kl_weight", 0.0, True, None, False),
                 ("mode_batchnorm_share", 0.0, True, 1.0, True), ("val_split", 0.0, True, 1.0, False),
                 ("seed", 0, True, None, False), ("lns_noise_rate", 0.0, True, 0.5, False),
                 ("lns_weight", 0.0, True, None, False)]


def _check_numbers(config: "TrainConfig") -> None:
    """Refuse NaN, infinite and out-of-range numbers, naming the option (``lr`` is ``--lr``)."""
    for name, low, low_ok, high, high_ok in NUMBER_RANGES:
        value = getattr(config, name)
        if value is None:
            continue
        option = "--" + name.replace("_", "-")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} ({option}) must be a finite number, got {value!r}")
        too_high = high is not None and (value > high or (value == high and not high_ok))
        if value < low or (value == low and not low_ok) or too_high:
            upper = "inf)" if high is None else f"{high:g}{']' if high_ok else ')'}"
            bounds = f"{'[' if low_ok else '('}{low:g}, {upper}"
            raise ValueError(f"{name} ({option}) must be in {bounds}, got {value!r}")
    if config.input_bits not in (1, 8):
        raise ValueError(f"input_bits (--input-bits) must be 1 or 8, got {config.input_bits!r}")


INIT_METHODS = (Method.LNS, Method.PBNET, Method.PBNET_S, Method.STE)  # STE: plain fine-tuning

# Fields that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = {"epochs", "data_dir", "test_samples", "device"}


def augment_enabled(config: TrainConfig) -> bool:
    return config.dataset == "cifar10" if config.augment is None else bool(config.augment)


_STEP_SCHEDULE = re.compile(r"step:(\d+):([0-9.eE+-]+)")


def parse_schedule(text: str) -> tuple[str, int, float]:
    """("cosine", 0, 0.0) or ("step", E, F); ``ValueError`` naming --lr-schedule otherwise."""
    if text == "cosine":
        return "cosine", 0, 0.0
    match = _STEP_SCHEDULE.fullmatch(text) if isinstance(text, str) else None
    if match:
        period, factor = int(match.group(1)), float(match.group(2))
        if period >= 1 and math.isfinite(factor) and factor > 0:
            return "step", period, factor
    raise ValueError(f"lr_schedule (--lr-schedule) must be cosine or step:E:F (E >= 1 epochs, F > 0), got {text!r}")


def cosine_lr(base: float, step: int, total: int) -> float:
    return 0.5 * base * (1.0 + math.cos(math.pi * min(step, total) / total))


def scheduled_lr(config: TrainConfig, base: float, step: int, steps_per_epoch: int) -> float:
    """The learning rate of global step ``step`` (0-based) of the run."""
    kind, period, factor = parse_schedule(config.lr_schedule)
    if kind == "cosine":
        return cosine_lr(base, step, config.epochs * steps_per_epoch)
    return base * factor ** ((step // steps_per_epoch) // period)


def saved_config(saved: dict) -> TrainConfig:
    """The TrainConfig a checkpoint stored; one saved before presets existed trained with the paper's."""
    return TrainConfig(**{"preset": "paper", **saved})
