"""Random binary networks for the compiler's property tests: tiny, seeded, with hard batchnorms.

``random_mlp`` / ``random_cnn`` return (BinaryNet, ±1 weights). Every hidden batchnorm mixes
channels with γ > 0, γ < 0, γ = 0 and exact ties: a channel whose batchnorm output is exactly
0 (so sign gives +1) at a reachable integer accumulator a0, built from powers of two so that
exact maths and torch's float32 forward agree (var + eps = s² exactly).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from bnn2hw.models import BinaryConv2d, BinaryLinear, BinaryNet, InputQuant, ModelConfig, OutputScale, SignActivation

TIE_EPS = 2.0 ** -14


def randomize_batchnorm(bn: nn.modules.batchnorm._BatchNorm, fan_in: int, rng: np.random.Generator,
                        bipolar_input: bool = True, zero_gamma: bool = True) -> None:
    """Random statistics with γ<0, γ=0 and exact ties on purpose (see module docstring)."""
    c = bn.num_features
    scale = np.sqrt(fan_in) if bipolar_input else 128 * np.sqrt(fan_in)
    p_zero = 0.1 if zero_gamma else 0.0
    kind = rng.choice(["pos", "neg", "zero", "tie"], size=c, p=[0.3, 0.4 - p_zero, p_zero, 0.3])
    gamma = np.where(kind == "neg", -1, 1) * rng.uniform(0.1, 3, c)
    gamma[kind == "zero"] = 0.0
    mean = rng.normal(0, scale / 3, c)
    var = rng.uniform(0.1, 2, c) * scale ** 2
    beta = rng.normal(0, 1, c)
    beta[(kind == "zero") & (rng.random(c) < 0.5)] = 0.0  # γ = 0, β = 0: constant +1 by sign(0)
    bn.eps = TIE_EPS
    for i in np.flatnonzero(kind == "tie"):
        s = 2.0 ** rng.integers(-1, 3)
        a0 = int(rng.integers(-fan_in, fan_in + 1)) if bipolar_input else int(rng.integers(-255, 256))
        a0 -= (a0 - fan_in) % 2 if bipolar_input else 0  # reachable: acc ≡ K (mod 2)
        d = int(rng.integers(-3, 4))
        g = float(rng.choice([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0]))
        gamma[i], mean[i], var[i], beta[i] = g, a0 + d, s * s - TIE_EPS, g * d / s
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma, dtype=torch.float32))
        bn.bias.copy_(torch.tensor(beta, dtype=torch.float32))
        bn.running_mean.copy_(torch.tensor(mean, dtype=torch.float32))
        bn.running_var.copy_(torch.tensor(var, dtype=torch.float32))


def random_weights(model: BinaryNet, rng: np.random.Generator) -> list[torch.Tensor]:
    return [torch.tensor(rng.choice([-1.0, 1.0], size=tuple(layer.weight.shape)), dtype=torch.float32)
            for layer in model.binary_layers()]


def random_mlp(rng: np.random.Generator, input_bits: int = 1, in_shape=(1, 4, 4), classes: int = 5,
               zero_gamma: bool = True):
    widths = [int(w) for w in rng.integers(1, 12, size=rng.integers(1, 4))]
    config = ModelConfig("mlp:" + ",".join(map(str, widths)), input_bits, tuple(in_shape), classes)
    layers: list[nn.Module] = [InputQuant(input_bits), nn.Flatten()]
    fan_in, bipolar = int(np.prod(in_shape)), input_bits == 1
    for w in widths:
        bn = nn.BatchNorm1d(w)
        randomize_batchnorm(bn, fan_in, rng, bipolar, zero_gamma)
        layers += [BinaryLinear(fan_in, w), bn, SignActivation()]
        fan_in, bipolar = w, True
    layers += [BinaryLinear(fan_in, classes), OutputScale(0.5)]
    model = BinaryNet(config, nn.Sequential(*layers)).eval()
    return model, random_weights(model, rng)


def random_cnn(rng: np.random.Generator, input_bits: int = 1, in_shape=(2, 6, 6), pad_to: int | None = 8,
               classes: int = 4, zero_gamma: bool = True):
    side = pad_to or in_shape[1]
    config = ModelConfig("cnv", input_bits, tuple(in_shape), classes)
    channels, bipolar = in_shape[0], input_bits == 1
    layers: list[nn.Module] = [InputQuant(input_bits, pad_to)]
    for pool in (True, False):
        out = int(rng.integers(1, 6))
        bn = nn.BatchNorm2d(out)
        randomize_batchnorm(bn, channels * 9, rng, bipolar, zero_gamma)
        layers += [BinaryConv2d(channels, out), bn, SignActivation()]
        channels, side, bipolar = out, side - 2, True
        if pool:
            layers.append(nn.MaxPool2d(2))
            side //= 2
    fan_in, width = channels * side * side, int(rng.integers(1, 8))
    bn = nn.BatchNorm1d(width)
    randomize_batchnorm(bn, fan_in, rng, True, zero_gamma)
    layers += [nn.Flatten(), BinaryLinear(fan_in, width), bn, SignActivation(),
               BinaryLinear(width, classes), OutputScale(2.0)]
    model = BinaryNet(config, nn.Sequential(*layers)).eval()
    return model, random_weights(model, rng)


def random_images(rng: np.random.Generator, n: int, in_shape) -> np.ndarray:
    """uint8 images, with many pixels exactly at the binarization boundary 127/128."""
    x = rng.integers(0, 256, size=(n, *in_shape))
    edge = rng.random(x.shape) < 0.3
    x[edge] = rng.choice([127, 128], size=int(edge.sum()))
    return x.astype(np.uint8)
