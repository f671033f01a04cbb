"""BayesBiNN presets: named settings of the optimizer (``bnn2hw.train.bayesbinn``).

Contract: ``PRESETS`` maps a name to a frozen ``BayesBiNNSettings``; ``DEFAULT_PRESET`` is the one
``TrainConfig`` uses. ``bayesbinn_settings(config)`` is ``config.preset``'s settings with every
BayesBiNN field of the config that is not None put over them (``--temperature 1e-2`` changes
only τ). Unknown names raise ``ValueError`` naming the presets.

- ``paper``: the authors' MNIST settings (team-approx-bayes/BayesBiNN, main_mnist.py): τ = 1e-10,
  the full likelihood (N = training-set size), λ₀ = ±10, no bound, and bnn2hw's rate 3e-4 for
  these small networks (chosen on tfc/digits and sfc/fashion-mnist). Its posterior collapses
  (see ``bnn2hw.train.bayesbinn`` and BENCHMARKS.md): kept for comparison and continual learning.
- ``calibrated`` (default): the same rule with the natural-gradient scale capped at 1 (a linear
  step in λ), a cold likelihood (s = 500) and lr 3e-3, and after training batchnorm statistics
  of the population that shares them at read-out: the mode network (half) and posterior samples
  (the other half; ``mode_batchnorm_share``, ``bnn2hw.train.uncertainty.population_batchnorm``).
  Chosen by measurement (BENCHMARKS.md, "BayesBiNN posterior", and
  ``scripts/screen_bayesbinn.py``) to keep a posterior whose samples differ (about 21 % of SFC's
  weights with q(w = +1) in [0.05, 0.95] after 10 epochs on Fashion-MNIST) while the mode network
  stays within half a point of STE's accuracy and the 20-sample ensemble beats STE's NLL by 5 %
  and its OOD AUROC by 0.03.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class BayesBiNNSettings:
    lr: float = 3e-4                     # rate on λ when TrainConfig.lr is None (cosine schedule)
    temperature: float = 1e-10
    mc_samples: int = 1
    momentum: float = 0.0
    lambda_init: float = 10.0
    kl_weight: float = 1.0
    likelihood_scale: float = 1.0        # N of the likelihood times this (tempered posterior)
    scale_bound: float | None = None     # cap of the natural-gradient scale (1-w²)/(τ(1-μ²))
    lambda_bound: float | None = None    # |λ| clipped to this after every step
    mode_batchnorm_share: float | None = None  # after training: batchnorm stats of mode (this share) + samples


PRESETS: dict[str, BayesBiNNSettings] = {
    "paper": BayesBiNNSettings(),
    "calibrated": BayesBiNNSettings(lr=3e-3, likelihood_scale=500.0, scale_bound=1.0, mode_batchnorm_share=0.5),
}
DEFAULT_PRESET = "calibrated"
SETTING_NAMES = tuple(f.name for f in fields(BayesBiNNSettings))


def check_preset(name: str) -> None:
    if name not in PRESETS:
        raise ValueError(f"unknown BayesBiNN preset {name!r} (--preset): one of {', '.join(PRESETS)}")


def bayesbinn_settings(config) -> BayesBiNNSettings:
    """The preset named by ``config.preset`` with the config's explicit (non-None) settings over it."""
    check_preset(config.preset)
    # lr is TrainConfig's own field for every method; None there means the preset's
    explicit = {name: getattr(config, name) for name in SETTING_NAMES if getattr(config, name) is not None}
    return replace(PRESETS[config.preset], **explicit)
