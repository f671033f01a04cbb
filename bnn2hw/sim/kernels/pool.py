"""Pool_hls / Pool_rtl (max pooling over sliding windows), LabelSelect_hls / _rtl (top-K class indices).

Contract:
* Pool_hls (finn-hlslib ``Pool_batch``, Function ``MaxPool``): input (OH, OW, K·C) in the
  depthwise window order [C/PE][k][PE] — the loop reads, per channel fold, the k kernel
  positions of PE channels — output (OH, OW, C), the maximum over the window. Other pooling
  functions raise ``SimError``. (0/1 bytes: the maximum is the bitwise OR, taken on whole words.)
  Cycles: ``C·k/PE · OH·OW · BatchSize`` (FINN ``Pool``).
* LabelSelect_hls (finn-hlslib ``LabelSelect_Batch``): per image, reads ``Labels`` scores PE at
  a time and keeps the top K exactly as the HLS loop does — slots start at the input type's
  minimum with label 0, and a score enters only if strictly greater, so ties keep the lower
  index; outputs the K labels, highest first. Cycles: ``Labels/PE`` (FINN ``LabelSelect``).
"""

from __future__ import annotations

import numpy as np

from bnn2hw.sim.datatypes import SimError
from bnn2hw.sim.graph import NodeView
from bnn2hw.sim.kernels.base import Kernel, compact, vector_dims, within


class Pool(Kernel):
    op_types = ("Pool_hls", "Pool_rtl")
    input_attr, output_attr = "InputDataType", "OutputDataType"

    def __init__(self, node: NodeView):
        super().__init__(node)
        if node.attr("Function") != "MaxPool":
            raise SimError(f"{node}: pooling function {node.attr('Function')!r} is not supported (MaxPool only)")
        self.channels, self.pe = int(node.attr("Channels")), int(node.attr("PE"))
        self.window = int(np.prod(node.attr("KernelSize")))
        self.out_dims = [int(v) for v in node.attr("OutImgDims")]
        if self.channels % self.pe:
            raise SimError(f"{node}: PE={self.pe} must divide Channels={self.channels}")

    def input_shape(self) -> tuple[int, ...]:
        return (*self.out_dims, self.window * self.channels)

    def in_word_elems(self) -> int:
        return self.pe

    out_word_elems = in_word_elems

    def compute(self, x: np.ndarray) -> np.ndarray:
        lead = x.shape[:-1]
        if x.dtype == np.uint8 and within(x, 0, 1):
            return compact(window_or(x, self.window, self.pe).reshape(lead + (self.channels,)), self.output_type)
        folded = x.reshape(lead + (self.channels // self.pe, self.window, self.pe))
        out = folded[..., 0, :].copy()
        for position in range(1, self.window):  # pairwise: far faster than a reduce over a short axis
            np.maximum(out, folded[..., position, :], out=out)
        return compact(out.reshape(lead + (self.channels,)), self.output_type)

    def exp_cycles(self) -> int:
        batch = int(self.node.attr("BatchSize", 1))
        return int(self.channels * self.window / self.pe * int(np.prod(self.out_dims)) * batch)


def window_or(x: np.ndarray, window: int, pe: int) -> np.ndarray:
    """Max over the window of 0/1 bytes [C/PE][k][PE] as a bitwise OR of the PE bytes of each position."""
    lanes = next(b for b in (8, 4, 2, 1) if pe % b == 0)  # bytes per word: the widest that divides PE
    words = np.ascontiguousarray(x).reshape(-1, window, pe).view(f"<u{lanes}")  # (groups, k, PE/lanes)
    out = words[:, 0].copy()
    for position in range(1, window):
        np.bitwise_or(out, words[:, position], out=out)
    return out.view(np.uint8)


def top_k_labels(scores: np.ndarray, k: int, floor: int) -> np.ndarray:
    """LabelSelect_Batch's insertion network, vectorised over images: (N, L) -> (N, k), best first."""
    n = scores.shape[0]
    top_values = np.full((n, k), floor, dtype=np.int64)  # ascending: slot k-1 is the best
    top_labels = np.zeros((n, k), dtype=np.int64)
    for index in range(scores.shape[1]):
        value = scores[:, index].astype(np.int64)
        greater = value[:, None] > top_values
        shift = greater[:, :-1] & greater[:, 1:]
        insert = greater & ~np.concatenate([shift, np.zeros((n, 1), bool)], axis=1)
        new_values, new_labels = top_values.copy(), top_labels.copy()
        new_values[:, :-1] = np.where(shift, top_values[:, 1:], new_values[:, :-1])
        new_labels[:, :-1] = np.where(shift, top_labels[:, 1:], new_labels[:, :-1])
        top_values = np.where(insert, value[:, None], new_values)
        top_labels = np.where(insert, index, new_labels)
    return top_labels[:, ::-1]


class LabelSelect(Kernel):
    op_types = ("LabelSelect_hls", "LabelSelect_rtl")

    def __init__(self, node: NodeView):
        super().__init__(node)
        self.labels, self.pe, self.k = int(node.attr("Labels")), int(node.attr("PE")), int(node.attr("K"))
        self.vectors = vector_dims(node)
        if self.labels % self.pe:
            raise SimError(f"{node}: PE={self.pe} must divide Labels={self.labels}")
        if (self.labels - 1).bit_length() > self.output_type.bits - self.output_type.signed:
            raise SimError(f"{node}: {self.labels} labels do not fit {self.output_type.name}")

    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.vectors[1:]) + (self.labels,)

    def in_word_elems(self) -> int:
        return self.pe

    def out_word_elems(self) -> int:
        return 1

    def compute(self, x: np.ndarray) -> np.ndarray:
        lead = x.shape[:-1]
        floor = self.input_type.min if not self.input_type.bipolar else 0
        labels = top_k_labels(x.reshape(-1, self.labels), self.k, floor)
        return compact(labels.reshape(lead + (self.k,)), self.output_type)

    def exp_cycles(self) -> int:
        return self.labels // self.pe
