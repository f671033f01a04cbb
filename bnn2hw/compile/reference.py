"""The reference: a numpy integer forward of an ``IntegerNetwork`` (rung 1 of the ladder).

Contract: ``integer_forward(net, images)`` takes raw uint8 images (N, C, H, W) and returns
``(labels int64 (N,), scores int64 (N, classes))``: the last layer's integer accumulators and
their argmax (first maximum on ties, as ONNX TopK and FINN's LabelSelect).
Every value is an integer. Dot products run as float64 BLAS matmuls of integers, which is
exact: every partial sum is an integer of magnitude <= 255·K < 2**53 (checked); float32
when that bound is below 2**24.
Thresholds apply the folded rule of ``bnn2hw.compile.thresholds`` with the flip on the
accumulator, independently of how the QONNX graph encodes it (negated weight rows).
"""

from __future__ import annotations

import numpy as np

from bnn2hw.compile.integer_net import (
    ArgMax, Binarize, Conv, Dense, Flatten, IntegerNetwork, MaxPool, Pad, Threshold,
)
from bnn2hw.compile.thresholds import apply_thresholds

EXACT_FLOAT32, EXACT_FLOAT64 = 2 ** 24, 2 ** 53
CHUNK = 256  # images per chunk, bounds the im2col memory


def _exact_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Integer x @ w.T, exact (see module docstring); float32 BLAS when bound < 2**24."""
    bound = int(np.abs(x).max(initial=0)) * w.shape[1]
    if bound >= EXACT_FLOAT64:
        raise OverflowError(f"accumulator bound {bound} is not exact in float64")
    dtype = np.float32 if bound < EXACT_FLOAT32 else np.float64
    return (x.astype(dtype) @ w.astype(dtype).T).astype(np.int64)


def dense(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return _exact_matmul(x, weight)


def conv2d(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Unpadded stride-1 convolution, NCHW integers, weight (out, in, k, k)."""
    k = weight.shape[-1]
    x = x.astype(np.int32) if np.abs(x).max(initial=0) < 2 ** 31 else x
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))  # N C H' W' k k
    n, c, h, w = windows.shape[:4]
    patches = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * k * k)
    out = _exact_matmul(patches, weight.reshape(len(weight), -1))
    return out.reshape(n, h, w, -1).transpose(0, 3, 1, 2)


def max_pool(x: np.ndarray, kernel: int) -> np.ndarray:
    n, c, h, w = x.shape
    h2, w2 = h // kernel, w // kernel
    x = x[:, :, :h2 * kernel, :w2 * kernel].reshape(n, c, h2, kernel, w2, kernel)
    return x.max(axis=(3, 5))


def argmax_first(scores: np.ndarray) -> np.ndarray:
    return np.argmax(scores, axis=1).astype(np.int64)


def _apply(op, x: np.ndarray) -> np.ndarray:
    if isinstance(op, Pad):
        return np.pad(x, ((0, 0), (0, 0), (op.top, op.bottom), (op.left, op.right)))
    if isinstance(op, Binarize):
        return np.where(x >= op.threshold, 1, -1).astype(np.int64)
    if isinstance(op, Flatten):
        return x.reshape(len(x), -1)
    if isinstance(op, Dense):
        return dense(x, op.weight)
    if isinstance(op, Conv):
        return conv2d(x, op.weight)
    if isinstance(op, Threshold):
        return apply_thresholds(x, op.flip, op.threshold, channel_axis=1)
    if isinstance(op, MaxPool):
        return max_pool(x, op.kernel)
    raise TypeError(f"no reference kernel for {type(op).__name__}")


def integer_forward(net: IntegerNetwork, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores) of the integer network on raw uint8 images; see module docstring."""
    if images.dtype != np.uint8 or images.shape[1:] != net.in_shape:
        raise ValueError(f"expected uint8 images of shape (N, {net.in_shape}), "
                         f"got {images.dtype} {images.shape}")
    scores = []
    for start in range(0, len(images), CHUNK):
        x = images[start:start + CHUNK].astype(np.int64)
        for op in net.ops:
            if isinstance(op, ArgMax):
                break
            x = _apply(op, x)
        scores.append(x)
    scores = np.concatenate(scores) if scores else np.zeros((0, net.num_classes), np.int64)
    return argmax_first(scores), scores
