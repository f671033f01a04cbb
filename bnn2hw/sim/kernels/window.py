"""ConvolutionInputGenerator (sliding-window generator) and FMPadding, on NHWC streams.

Contract:
* ConvolutionInputGenerator_rtl/_hls: input (H, W, C), output (OH, OW, K_h·K_w·C) with stride and
  dilation, no padding. Standard windows are emitted kernel-position-major, channels innermost
  ([kh][kw][c], FINN's im2col order the MVAU weights assume). Depthwise windows (``depthwise=1``,
  feeding Pool / VVAU) are emitted channel-fold-major: [C/SIMD][kh·kw][SIMD] — the order of the
  RTL generator, which the consumer's PE must match (FINN sets PE = SIMD).
  Cycles: FINN ``ConvolutionInputGenerator_rtl.get_exp_cycles`` ("parallel" style:
  input words + 2; "default" style: 2D buffer formula), reproduced below.
* FMPadding_rtl/_hls: pads (H, W, C) with zeros, ``Padding`` = [top, left, bottom, right].
  Cycles: ``NumChannels/SIMD · padded H · padded W`` (FINN ``FMPadding.get_exp_cycles``).
"""

from __future__ import annotations

import numpy as np

from bnn2hw.sim.datatypes import SimError
from bnn2hw.sim.graph import NodeView
from bnn2hw.sim.kernels.base import Kernel


def sliding_windows(x: np.ndarray, kernel, stride, dilation) -> np.ndarray:
    """(N, H, W, C) -> (N, OH, OW, kh, kw, C)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    view = np.lib.stride_tricks.sliding_window_view(x, (span_h, span_w), axis=(1, 2))  # N OH' OW' C sh sw
    view = view[:, ::sh, ::sw, :, ::dh, ::dw]
    return view.transpose(0, 1, 2, 4, 5, 3)


def depthwise_windows(x: np.ndarray, kernel, stride, dilation, simd: int) -> np.ndarray:
    """(N, H, W, C) -> (N, OH, OW, C/SIMD, kh·kw, SIMD), one strided copy per kernel position.

    The SIMD elements of a channel fold move as whole words (the widest uint dividing their bytes).
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    n, h, w, channels = x.shape
    oh, ow = (h - (kh - 1) * dh - 1) // sh + 1, (w - (kw - 1) * dw - 1) // sw + 1
    group_bytes = simd * x.itemsize
    lanes = next(b for b in (8, 4, 2, 1) if group_bytes % b == 0)
    words = np.ascontiguousarray(x).view(f"u{lanes}").reshape(n, h, w, channels // simd, group_bytes // lanes)
    out = np.empty((n, oh, ow, channels // simd, kh * kw, group_bytes // lanes), words.dtype)
    for i in range(kh):
        rows = slice(i * dh, i * dh + (oh - 1) * sh + 1, sh)
        for j in range(kw):
            out[:, :, :, :, i * kw + j] = words[:, rows, j * dw:j * dw + (ow - 1) * sw + 1:sw]
    return out.view(x.dtype).reshape(n, oh, ow, channels // simd, kh * kw, simd)


class SlidingWindow(Kernel):
    op_types = ("ConvolutionInputGenerator_rtl", "ConvolutionInputGenerator_hls")

    def __init__(self, node: NodeView):
        super().__init__(node)
        self.kernel = [int(v) for v in node.attr("ConvKernelDim")]
        self.ifm = [int(v) for v in node.attr("IFMDim")]
        self.ofm = [int(v) for v in node.attr("OFMDim")]
        self.stride = [int(v) for v in node.attr("Stride")]
        self.dilation = [int(v) for v in node.attr("Dilation", [1, 1])]
        self.channels, self.simd = int(node.attr("IFMChannels")), int(node.attr("SIMD"))
        self.depthwise = bool(node.attr("depthwise", 0))
        self.parallel = bool(node.attr("parallel_window", 0))
        if self.channels % self.simd:
            raise SimError(f"{node}: SIMD={self.simd} must divide IFMChannels={self.channels}")

    def input_shape(self) -> tuple[int, ...]:
        return (*self.ifm, self.channels)

    def in_word_elems(self) -> int:
        return self.simd

    def out_word_elems(self) -> int:
        return self.simd * (self.kernel[0] * self.kernel[1] if self.parallel else 1)

    def compute(self, x: np.ndarray) -> np.ndarray:
        if self.depthwise:
            windows = depthwise_windows(x, self.kernel, self.stride, self.dilation, self.simd)
        else:
            windows = sliding_windows(x, self.kernel, self.stride, self.dilation)
        n, oh, ow = windows.shape[:3]
        if (oh, ow) != tuple(self.ofm):
            raise SimError(f"{self.node}: windows give {(oh, ow)}, OFMDim is {self.ofm}")
        return np.ascontiguousarray(windows).reshape(n, oh, ow, self.kernel[0] * self.kernel[1] * self.channels)

    def _is_parallel_style(self) -> bool:
        return self.parallel or self.kernel == [1, 1]

    def exp_cycles(self) -> int:
        (kh, kw), (ih, iw), (oh, ow) = self.kernel, self.ifm, self.ofm
        (sh, sw), (dh, dw) = self.stride, self.dilation
        cf = self.channels // self.simd
        if self._is_parallel_style():
            return ih * iw * cf + 2
        if ih == 1 or iw == 1:
            raise SimError(f"{self.node}: 1D sliding windows are not supported by the simulator's cycle model")
        buffer_min = ((kh - 1) * dh * iw + (kw - 1) * dw + 1) * cf
        max_cycles = max(ow * kw * kh * cf, sw * iw * cf)
        if self.depthwise:
            max_cycles += ow * (sw - 1) * (cf - 1)
        cycles = buffer_min + oh * max_cycles
        if self.depthwise:
            cycles += (sh - 1) * iw * cf
        return int(cycles)


class FMPadding(Kernel):
    op_types = ("FMPadding_rtl", "FMPadding_hls")
    output_attr = "inputDataType"  # padding keeps the datatype

    def __init__(self, node: NodeView):
        super().__init__(node)
        self.image = [int(v) for v in node.attr("ImgDim")]
        self.padding = [int(v) for v in node.attr("Padding")]  # top, left, bottom, right
        self.channels, self.simd = int(node.attr("NumChannels")), int(node.attr("SIMD"))

    def input_shape(self) -> tuple[int, ...]:
        return (*self.image, self.channels)

    def in_word_elems(self) -> int:
        return self.simd

    out_word_elems = in_word_elems

    def compute(self, x: np.ndarray) -> np.ndarray:
        top, left, bottom, right = self.padding
        return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))

    def exp_cycles(self) -> int:
        top, left, bottom, right = self.padding
        h, w = self.image[0] + top + bottom, self.image[1] + left + right
        vectors = int(np.prod(self.node.attr("numInputVectors", 1)))
        return int(self.channels / self.simd * vectors * h * w)
