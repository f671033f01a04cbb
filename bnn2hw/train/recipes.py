"""Published training settings as named recipes (``bnn2hw train --recipe NAME``).

Contract: ``RECIPES`` maps a name to the ``TrainConfig`` options it sets; ``recipe_options(name)``
returns them (with ``recipe`` itself), and options the user gives on top win. ``check_recipe``
refuses an unknown name with ``ValueError`` naming ``--recipe``. ``RECIPE_NOTES`` says, per
recipe, what differs from the source, so that a reproduction table can print it.

Sources, read from the code (not the papers' summaries):
- ``brevitas-{tfc,sfc,lfc,cnv}``: Xilinx/brevitas ``src/brevitas_examples/bnn_pynq``
  (``bnn_pynq_train.py``, ``trainer.py``, ``cfg/*_1w1a.ini``): Adam on every parameter at lr 0.02,
  weight decay 0, batch 100, scheduler ``FIXED`` = the rate halved after every 40th epoch, 1000
  epochs for the 1W1A networks (its README), latent weights clipped to [-1, 1] after each step
  (bnn2hw's ``ste``); the whole training set (no validation split); MNIST without augmentation,
  CIFAR-10 with ``RandomCrop(32, padding=4)`` and ``RandomHorizontalFlip``; 1-bit input for the
  MLPs, 8-bit for CNV (``IN_BIT_WIDTH``).
- ``bayesbinn-mnist`` / ``bayesbinn-cifar10``: team-approx-bayes/BayesBiNN ``main_mnist.py`` /
  ``main_cifar10.py`` with ``--optim BayesBiNN``: τ = 1e-10, λ initialised to ±10, one training
  sample, β (momentum) 0, cosine schedule, batchnorm without affine parameters, validation split
  0.1; MNIST lr 1e-4, batch 100, 500 epochs, N = the training-set size; CIFAR-10 lr 3e-4, batch
  50, 500 epochs, N = 10 × the training-set size (``trainset_scale`` 10, bnn2hw's
  ``likelihood_scale``), random crop with 4-pixel padding and horizontal flip.
"""

from __future__ import annotations

_BREVITAS = {"method": "ste", "lr": 0.02, "bn_lr": 0.02, "batch_size": 100, "epochs": 1000,
             "lr_schedule": "step:40:0.5", "val_split": 0.0}
_BAYESBINN = {"method": "bayesbinn", "preset": "paper", "temperature": 1e-10, "lambda_init": 10.0,
              "mc_samples": 1, "momentum": 0.0, "bn_lr": 0.0, "lr_schedule": "cosine", "val_split": 0.1,
              "epochs": 500}

RECIPES: dict[str, dict] = {
    "brevitas-tfc": {**_BREVITAS, "model": "tfc", "dataset": "mnist", "input_bits": 1, "augment": False},
    "brevitas-sfc": {**_BREVITAS, "model": "sfc", "dataset": "mnist", "input_bits": 1, "augment": False},
    "brevitas-lfc": {**_BREVITAS, "model": "lfc", "dataset": "mnist", "input_bits": 1, "augment": False},
    "brevitas-cnv": {**_BREVITAS, "model": "cnv", "dataset": "cifar10", "input_bits": 8, "augment": True},
    "bayesbinn-mnist": {**_BAYESBINN, "model": "lfc", "dataset": "mnist", "input_bits": 1, "lr": 1e-4,
                        "batch_size": 100, "likelihood_scale": 1.0, "augment": False},
    "bayesbinn-cifar10": {**_BAYESBINN, "model": "cnv", "dataset": "cifar10", "input_bits": 8, "lr": 3e-4,
                          "batch_size": 50, "likelihood_scale": 10.0, "augment": True},
}

_BREVITAS_DIFF = ("cross-entropy instead of Brevitas' squared hinge loss; Brevitas keeps the best epoch on "
                  "the test set, bnn2hw reports the last")
RECIPE_NOTES: dict[str, str] = {
    **{f"brevitas-{m}": _BREVITAS_DIFF for m in ("tfc", "sfc", "lfc")},
    "brevitas-cnv": _BREVITAS_DIFF + "; bnn2hw's CNV has no bias and one output scale",
    "bayesbinn-mnist": ("their network is MLPBinaryConnect (784-2048-2048-2048-10, real normalised input, "
                        "dropout 0.2, batchnorm momentum 0.15); here FINN's LFC with 1-bit input and sign "
                        "activations"),
    "bayesbinn-cifar10": ("their network is VGGBinaryConnect (real normalised input, batchnorm momentum 0.2, "
                          "eps 1e-5); here FINN's CNV with 8-bit integer input, unpadded convolutions"),
}


def check_recipe(name: str) -> None:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r} (--recipe): one of {', '.join(RECIPES)}")


def recipe_options(name: str) -> dict:
    """The TrainConfig options of recipe ``name``, ``recipe`` included."""
    check_recipe(name)
    return {**RECIPES[name], "recipe": name}
