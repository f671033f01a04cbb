"""Binary building blocks shared by every topology.

Contract (numerics of DESIGN.md):
- ``bipolar(x)`` is +1 where x >= 0 and -1 elsewhere, without a gradient (in place with ``out``).
- ``sign_ste(x)`` is +1 where x >= 0 and -1 elsewhere (sign(±0) = +1; NaN stays NaN); its
  backward is the straight-through estimator of BinaryNet, the gradient passed where |x| <= 1.
- ``BinaryLinear`` / ``BinaryConv2d`` have no bias. Their ``weight`` parameter is read
  in one of two ways, chosen by the training method through ``binarize_weights``:
  True  -> the forward uses sign_ste(weight) (STE: weight is a real latent in [-1, 1]);
  False -> the forward uses weight as it is (BayesBiNN writes relaxed samples, sign(λ),
           tanh(λ) or Bernoulli samples into it; see ``bnn2hw.train.bayesbinn``).
- ``InputQuant`` takes raw uint8 images: 1 bit -> +1 iff pixel >= 128, else -1;
  8 bits -> the integer pixel value itself, so hardware sees exactly the data set's bytes.
- ``OutputScale`` multiplies the scores by one positive learned scalar, so that argmax
  (the hardware's answer) does not depend on it.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def bipolar(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """+1 where x >= 0, else -1 (sign(±0) = +1; NaN stays NaN), into ``out`` when given."""
    # sign, + ½, sign: float passes torch vectorises (x >= 0 and a where cost ten times more)
    return torch.sign(x, out=out).add_(0.5).sign_()


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return bipolar(x)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        # 1 - sign(relu(|x| - 1)) is 1 where |x| <= 1, else 0, without a bool tensor
        return x.abs().sub_(1).relu_().sign_().neg_().add_(1).mul_(grad_out)


def sign_ste(x: torch.Tensor) -> torch.Tensor:
    """Bipolar sign with sign(0) = +1 and a straight-through (hard-tanh) gradient."""
    return _SignSTE.apply(x)


class SignActivation(nn.Module):
    """Binary activation: sign_ste of its input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sign_ste(x)


class _BinaryWeightMixin:
    binarize_weights: bool = True

    def binary_weight(self) -> torch.Tensor:
        return sign_ste(self.weight) if self.binarize_weights else self.weight


class BinaryLinear(_BinaryWeightMixin, nn.Linear):
    """Fully connected layer with ±1 weights and no bias."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__(in_features, out_features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.binary_weight())


class BinaryConv2d(_BinaryWeightMixin, nn.Conv2d):
    """Unpadded, stride-1 convolution with ±1 weights and no bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__(in_channels, out_channels, kernel_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.binary_weight())


class InputQuant(nn.Module):
    """Raw uint8 image -> network input (±1 for 1 bit, integers 0..255 for 8 bits).

    ``pad_to`` zero-pads (pixel value 0) smaller images to a square of that size,
    centred, as CNV expects 32x32.
    """

    def __init__(self, input_bits: int, pad_to: int | None = None):
        super().__init__()
        if input_bits not in (1, 8):
            raise ValueError(f"input_bits must be 1 or 8, got {input_bits}")
        self.input_bits = input_bits
        self.pad_to = pad_to

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.uint8:
            raise TypeError(f"model input must be raw uint8 images, got {x.dtype}")
        x = self._pad(x.float())
        if self.input_bits == 1:
            return torch.where(x >= 128, torch.ones_like(x), -torch.ones_like(x))
        return x

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad_to is None:
            return x
        h, w = x.shape[-2:]
        if h > self.pad_to or w > self.pad_to:
            raise ValueError(f"image {h}x{w} is larger than the model's {self.pad_to}x{self.pad_to} input")
        top, left = (self.pad_to - h) // 2, (self.pad_to - w) // 2
        return F.pad(x, (left, self.pad_to - w - left, top, self.pad_to - h - top))


class NormalizedInput(nn.Module):
    """Raw uint8 image -> real input (x/255 − mean)/std: the BayesBiNN authors' MNIST
    normalisation (0.1307, 0.3081) for their continual-learning network; not hardware."""

    def __init__(self, mean: float = 0.1307, std: float = 0.3081):
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.uint8:
            raise TypeError(f"model input must be raw uint8 images, got {x.dtype}")
        return (x.float() / 255.0 - self.mean) / self.std


class OutputScale(nn.Module):
    """Scores times exp(log_scale): a positive scalar, so argmax is unchanged."""

    def __init__(self, init_scale: float = 1.0):
        super().__init__()
        if init_scale <= 0:
            raise ValueError(f"init_scale must be positive, got {init_scale}")
        self.log_scale = nn.Parameter(torch.tensor(float(init_scale)).log())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.log_scale.exp()
