"""A trained ``BinaryNet`` as a deterministic integer network: the compiler's intermediate form.

Contract: ``integer_network(model, weights)`` walks ``model.layers`` in order and returns an
``IntegerNetwork``: a tuple of ops on raw uint8 images (N, C, H, W), NCHW like torch,

- ``Binarize``   : pixel -> +1 iff pixel >= 128, else -1 (1-bit input);
- ``Pad``        : centred zero padding of the raw pixels (CNV's 32x32 input);
- ``Flatten``    : NCHW -> (N, C·H·W) in torch's order;
- ``Dense``/``Conv`` : ±1 int8 weights, no bias; the integer accumulator is
  2·popcount(xnor) − K on ±1 input, the plain integer dot product on 8-bit input;
- ``Threshold``  : batchnorm (+ sign) folded exactly (``bnn2hw.compile.thresholds``):
  per channel +1 iff (−acc if flip else acc) >= T;
- ``MaxPool``    : 2x2 stride-2 max of ±1 values;
- ``ArgMax``     : the last layer's integer scores -> class index. ``OutputScale`` is a
  positive scalar, so it is dropped: scores are the integer accumulators, argmax is unchanged.

``weights`` (one ±1 tensor per binary layer, ``model.binary_layers()`` order) is the binary
network to compile, e.g. the posterior mode sign(λ). Anything that is not such a binary
network (real-valued activations, unknown layers, non-±1 weights, batch statistics) is
refused with ``CompileError`` naming the layer (``layers.3``) and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from bnn2hw.compile.thresholds import fold_batchnorm_to_thresholds
from bnn2hw.models import BinaryConv2d, BinaryLinear, BinaryNet, InputQuant, OutputScale, SignActivation

BINARIZE_AT = 128  # InputQuant: +1 iff pixel >= 128


class CompileError(ValueError):
    """The run cannot be compiled; the message says which part and why."""


@dataclass(frozen=True)
class Binarize:
    threshold: int = BINARIZE_AT


@dataclass(frozen=True)
class Pad:
    top: int
    bottom: int
    left: int
    right: int


@dataclass(frozen=True)
class Flatten:
    pass


@dataclass(frozen=True, eq=False)
class Dense:
    weight: np.ndarray  # int8 ±1, (out, in)


@dataclass(frozen=True, eq=False)
class Conv:
    weight: np.ndarray  # int8 ±1, (out, in, k, k); unpadded, stride 1


@dataclass(frozen=True, eq=False)
class Threshold:
    flip: np.ndarray       # bool (channels,)
    threshold: np.ndarray  # int64 (channels,)


@dataclass(frozen=True)
class MaxPool:
    kernel: int = 2


@dataclass(frozen=True)
class ArgMax:
    pass


@dataclass(frozen=True)
class IntegerNetwork:
    in_shape: tuple[int, int, int]  # (C, H, W) of the raw uint8 images
    input_bits: int
    num_classes: int
    ops: tuple


def _where(i: int, layer: nn.Module) -> str:
    return f"{type(layer).__name__} at layers.{i}"


def _bipolar_int8(w: torch.Tensor, what: str) -> np.ndarray:
    w = w.detach().cpu()
    if not bool(((w == 1) | (w == -1)).all()):
        raise CompileError(f"{what}: weights are not all ±1, the network is not binary")
    return w.to(torch.int8).numpy().copy()


def _acc_range(weight: np.ndarray, bipolar_input: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel [lo, hi] of the accumulator, exact."""
    flat = weight.reshape(len(weight), -1).astype(np.int64)
    if bipolar_input:
        k = np.full(len(weight), flat.shape[1], dtype=np.int64)
        return -k, k
    return -255 * (flat < 0).sum(1), 255 * (flat > 0).sum(1)


def _fold_batchnorm(bn: nn.Module, lo: np.ndarray, hi: np.ndarray, where: str) -> Threshold:
    if bn.running_mean is None or bn.running_var is None:
        raise CompileError(f"{where}: batchnorm without running statistics cannot be folded")
    c = bn.num_features
    gamma = bn.weight.detach() if bn.weight is not None else torch.ones(c)
    beta = bn.bias.detach() if bn.bias is not None else torch.zeros(c)
    try:
        flip, thr = fold_batchnorm_to_thresholds(gamma.float().numpy(), beta.float().numpy(),
                                                 bn.running_mean.float().numpy(),
                                                 bn.running_var.float().numpy(), bn.eps, lo, hi)
    except ValueError as err:
        raise CompileError(f"{where}: {err}") from None
    return Threshold(flip, thr)


class _Walker:
    """State machine over ``model.layers``: 'pixels' -> 'bipolar'/'integer' -> 'acc' -> ..."""

    def __init__(self, model: BinaryNet, weights: list[torch.Tensor]):
        self.layers = list(model.layers)
        self.weights = list(weights)
        self.ops: list = []
        self.state = "pixels"
        self.range: tuple[np.ndarray, np.ndarray] | None = None
        self.in_shape = tuple(int(s) for s in model.config.in_shape)

    def walk(self) -> list:
        i = 0
        while i < len(self.layers):
            i = self.step(i, self.layers[i])
        if self.state != "acc":
            raise CompileError("the network must end with a binary layer's integer scores")
        return [*self.ops, ArgMax()]

    def need(self, states: tuple[str, ...], i: int, layer: nn.Module, what: str) -> None:
        if self.state not in states:
            raise CompileError(f"{_where(i, layer)}: {what} (after {self.state} values)")

    def step(self, i: int, layer: nn.Module) -> int:
        if isinstance(layer, InputQuant):
            return self.input_quant(i, layer)
        if isinstance(layer, nn.Flatten):
            self.need(("bipolar", "integer"), i, layer, "flatten is supported on ±1 or input values")
            if layer.start_dim != 1 or layer.end_dim != -1:
                raise CompileError(f"{_where(i, layer)}: only Flatten(1, -1) is supported")
            # Flatten commutes with the pixel binarization; flattening first gives FINN a 2D
            # input threshold (no NCHW->NHWC Transpose left on the input).
            at = len(self.ops) - 1 if self.ops and isinstance(self.ops[-1], Binarize) else len(self.ops)
            self.ops.insert(at, Flatten())
        elif isinstance(layer, (BinaryLinear, BinaryConv2d)):
            self.binary_layer(i, layer)
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            return self.batchnorm_sign(i, layer)
        elif isinstance(layer, SignActivation):
            self.need(("acc",), i, layer, "sign must follow a binary layer")
            channels = len(self.range[0])  # sign alone: +1 iff acc >= 0
            self.ops.append(Threshold(np.zeros(channels, bool), np.zeros(channels, np.int64)))
            self.state = "bipolar"
        elif isinstance(layer, nn.MaxPool2d):
            self.max_pool(i, layer)
        elif isinstance(layer, OutputScale):
            self.need(("acc",), i, layer, "the output scale must follow the last binary layer")
            if i != len(self.layers) - 1:
                raise CompileError(f"{_where(i, layer)}: the output scale must be the last layer")
        else:
            raise CompileError(f"unsupported layer {_where(i, layer)}: bnn2hw compiles binary layers, "
                               "batchnorm + sign, 2x2 max-pooling and flatten only; the network is not binary")
        return i + 1

    def input_quant(self, i: int, layer: InputQuant) -> int:
        self.need(("pixels",), i, layer, "the input quantizer must be the first layer")
        if layer.pad_to is not None:
            _, h, w = self.in_shape
            top, left = (layer.pad_to - h) // 2, (layer.pad_to - w) // 2
            if top < 0 or left < 0:
                raise CompileError(f"{_where(i, layer)}: image larger than pad_to={layer.pad_to}")
            self.ops.append(Pad(top, layer.pad_to - h - top, left, layer.pad_to - w - left))
        if layer.input_bits == 1:
            self.ops.append(Binarize())
            self.state = "bipolar"
        else:
            self.state = "integer"
        return i + 1

    def binary_layer(self, i: int, layer: nn.Module) -> None:
        self.need(("bipolar", "integer"), i, layer, "binary layers take ±1 or input values")
        if layer.bias is not None:
            raise CompileError(f"{_where(i, layer)}: binary layers must have no bias")
        if not self.weights:
            raise CompileError(f"{_where(i, layer)}: more binary layers than weight tensors")
        w = _bipolar_int8(self.weights.pop(0), _where(i, layer))
        if isinstance(layer, BinaryConv2d):
            if layer.stride != (1, 1) or layer.padding != (0, 0) or layer.dilation != (1, 1) or layer.groups != 1:
                raise CompileError(f"{_where(i, layer)}: only unpadded stride-1 convolutions are supported")
            self.ops.append(Conv(w))
        else:
            self.ops.append(Dense(w))
        self.range = _acc_range(w, self.state == "bipolar")
        self.state = "acc"

    def batchnorm_sign(self, i: int, layer: nn.Module) -> int:
        self.need(("acc",), i, layer, "batchnorm must follow a binary layer")
        nxt = self.layers[i + 1] if i + 1 < len(self.layers) else None
        if not isinstance(nxt, SignActivation):
            raise CompileError(f"{_where(i, layer)}: batchnorm not followed by SignActivation gives "
                               "real-valued activations; the network is not binary")
        self.ops.append(_fold_batchnorm(layer, *self.range, _where(i, layer)))
        self.state = "bipolar"
        return i + 2

    def max_pool(self, i: int, layer: nn.MaxPool2d) -> None:
        self.need(("bipolar",), i, layer, "max-pooling is supported on ±1 values only")
        ok = (layer.kernel_size in (2, (2, 2)) and layer.stride in (2, (2, 2))
              and layer.padding in (0, (0, 0)) and layer.dilation in (1, (1, 1)) and not layer.ceil_mode)
        if not ok:
            raise CompileError(f"{_where(i, layer)}: only MaxPool2d(2) is supported")
        self.ops.append(MaxPool(2))


def integer_network(model: BinaryNet, weights: list[torch.Tensor]) -> IntegerNetwork:
    """The integer network computed by ``model`` with these ±1 ``weights`` (see module docstring)."""
    if not isinstance(model, BinaryNet):
        raise CompileError(f"expected a bnn2hw BinaryNet, got {type(model).__name__}")
    model = model.eval()
    walker = _Walker(model, weights)
    with torch.no_grad():
        ops = walker.walk()
    if walker.weights:
        raise CompileError(f"{len(walker.weights)} weight tensors left over: they do not match the model")
    return IntegerNetwork(walker.in_shape, model.config.input_bits, model.config.num_classes, tuple(ops))
