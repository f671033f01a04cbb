"""Binary topologies: FINN's BNN-PYNQ MLPs (tfc, sfc, lfc), CNV, and custom ``mlp:W1,W2,...``.

Contract: ``build_model(ModelConfig)`` returns a ``BinaryNet`` whose forward takes raw uint8
images (N, C, H, W) and returns float scores (N, classes). Every hidden block is
binary layer -> batchnorm -> sign; the last binary layer's integer scores go through one
positive ``OutputScale``. ``BinaryNet.layers`` is a flat ``nn.Sequential`` so that the
compiler can walk it in order.

One topology is not hardware: ``cl100``, the BayesBiNN authors' continual-learning network
(their ``MLP_CL_h100``: 784-100-100-10, binary weights, real ReLU activations, batchnorm
without affine parameters, momentum 0.15, also after the last layer, normalised real input),
kept only to reproduce their experiment; ``BinaryNet.hardware_ready`` is False for it and
the compiler refuses it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from bnn2hw.models.layers import (
    BinaryConv2d,
    BinaryLinear,
    InputQuant,
    NormalizedInput,
    OutputScale,
    SignActivation,
)

MLP_WIDTHS: dict[str, tuple[int, ...]] = {
    "tfc": (64, 64, 64),
    "sfc": (256, 256, 256),
    "lfc": (1024, 1024, 1024),
}
# FINN CNV-w1a1: (out_channels, max-pool after) per 3x3 unpadded conv, then the FC widths.
CNV_CONVS: tuple[tuple[int, bool], ...] = (
    (64, False), (64, True), (128, False), (128, True), (256, False), (256, False),
)
CNV_FCS: tuple[int, ...] = (512, 512)
CNV_INPUT = 32
BN_EPS = 1e-4  # BNN-PYNQ's batchnorm epsilon
REAL_ACTIVATION_WIDTHS: dict[str, tuple[int, ...]] = {"cl100": (100, 100)}  # not hardware (see above)
CL_BN_MOMENTUM = 0.15  # the authors' continual-learning batchnorm momentum


@dataclass(frozen=True)
class ModelConfig:
    """What a topology needs to know: its name, input bits and the data's shapes."""

    name: str
    input_bits: int
    in_shape: tuple[int, int, int]  # (C, H, W) of the raw images
    num_classes: int

    def __post_init__(self):
        if self.input_bits not in (1, 8):
            raise ValueError(f"input_bits must be 1 or 8, got {self.input_bits}")
        hidden_widths(self.name)  # validates the name early


def hidden_widths(name: str) -> tuple[int, ...]:
    """Hidden widths of an MLP name ('tfc', 'mlp:128,64'); () for 'cnv'."""
    if name == "cnv":
        return ()
    if name in REAL_ACTIVATION_WIDTHS:
        return REAL_ACTIVATION_WIDTHS[name]
    if name in MLP_WIDTHS:
        return MLP_WIDTHS[name]
    if name.startswith("mlp:"):
        try:
            widths = tuple(int(w) for w in name[4:].split(","))
        except ValueError:
            widths = ()
        if widths and all(w > 0 for w in widths):
            return widths
        raise ValueError(f"bad model {name!r}: expected mlp:W1,W2,... with positive integer widths")
    known = ", ".join([*MLP_WIDTHS, "cnv", "mlp:W1,W2,...", *REAL_ACTIVATION_WIDTHS])
    raise ValueError(f"unknown model {name!r}; known models: {known}")


class BinaryNet(nn.Module):
    """A binary network: ``layers`` applied in order to raw uint8 images."""

    def __init__(self, config: ModelConfig, layers: nn.Sequential):
        super().__init__()
        self.config = config
        self.layers = layers

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)

    @property
    def hardware_ready(self) -> bool:
        """Binary activations throughout: the compiler can turn it into integer thresholds."""
        return self.config.name not in REAL_ACTIVATION_WIDTHS

    def binary_layers(self) -> list[nn.Module]:
        return [m for m in self.layers if isinstance(m, (BinaryLinear, BinaryConv2d))]

    def set_binarize_weights(self, enabled: bool) -> None:
        for layer in self.binary_layers():
            layer.binarize_weights = enabled


def _dense_block(fan_in: int, width: int) -> list[nn.Module]:
    return [BinaryLinear(fan_in, width), nn.BatchNorm1d(width, eps=BN_EPS), SignActivation()]


def _output_block(fan_in: int, classes: int) -> list[nn.Module]:
    # Scores of a ±1 layer grow like sqrt(fan_in); start the scale where softmax is sane.
    return [BinaryLinear(fan_in, classes), OutputScale(1.0 / math.sqrt(fan_in))]


def build_mlp(config: ModelConfig) -> BinaryNet:
    c, h, w = config.in_shape
    layers: list[nn.Module] = [InputQuant(config.input_bits), nn.Flatten()]
    fan_in = c * h * w
    for width in hidden_widths(config.name):
        layers += _dense_block(fan_in, width)
        fan_in = width
    layers += _output_block(fan_in, config.num_classes)
    return BinaryNet(config, nn.Sequential(*layers))


def build_cnv(config: ModelConfig) -> BinaryNet:
    channels = config.in_shape[0]
    layers: list[nn.Module] = [InputQuant(config.input_bits, pad_to=CNV_INPUT)]
    side = CNV_INPUT
    for out_channels, pool in CNV_CONVS:
        layers += [BinaryConv2d(channels, out_channels), nn.BatchNorm2d(out_channels, eps=BN_EPS),
                   SignActivation()]
        channels, side = out_channels, side - 2
        if pool:
            layers.append(nn.MaxPool2d(2))
            side //= 2
    layers.append(nn.Flatten())
    fan_in = channels * side * side
    for width in CNV_FCS:
        layers += _dense_block(fan_in, width)
        fan_in = width
    layers += _output_block(fan_in, config.num_classes)
    return BinaryNet(config, nn.Sequential(*layers))


def build_real_activation_mlp(config: ModelConfig) -> BinaryNet:
    """The authors' continual-learning MLP: binary weights, batchnorm (no affine), ReLU."""
    c, h, w = config.in_shape
    layers: list[nn.Module] = [NormalizedInput(), nn.Flatten()]
    fan_in = c * h * w
    for width in (*hidden_widths(config.name), config.num_classes):
        layers += [BinaryLinear(fan_in, width),
                   nn.BatchNorm1d(width, eps=BN_EPS, momentum=CL_BN_MOMENTUM, affine=False), nn.ReLU()]
        fan_in = width
    return BinaryNet(config, nn.Sequential(*layers[:-1]))  # no ReLU after the output batchnorm


def build_model(config: ModelConfig) -> BinaryNet:
    """The topology named by ``config.name``, sized for ``config.in_shape``."""
    if config.name == "cnv":
        return build_cnv(config)
    if config.name in REAL_ACTIVATION_WIDTHS:
        return build_real_activation_mlp(config)
    return build_mlp(config)
