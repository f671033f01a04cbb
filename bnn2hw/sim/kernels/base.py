"""The kernel contract: a thin class per FINN HW op around pure numpy functions.

Contract: a ``Kernel`` is built from one ``NodeView`` of the specialised dataflow graph; it reads
its attributes and constant inputs once (laying weights and thresholds out in memory as FINN
does), and ``execute(x)`` maps the stream values of a batch, ``(N, *normal_input_shape[1:])``,
to ``(N, *normal_output_shape[1:])``. Stream values are integers in stream order (FINN's NHWC,
innermost fastest: words only group consecutive elements); BINARY and BIPOLAR travel as bits
0/1. ``execute`` first counts input values that do not fit the node's input datatype; kernels
add their own counts (accumulator/register overflows, parameters that do not fit their
datatype) to ``self.stats``. ``exp_cycles()`` is FINN's ``get_exp_cycles`` for the node's
folding. Kernels never import FINN or qonnx.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from bnn2hw.sim.datatypes import IntType, SimError
from bnn2hw.sim.graph import NodeView


@dataclass
class NodeStats:
    """What one node flagged while running (counts of values, summed over the batch)."""

    name: str
    op_type: str
    overflows: int = 0          # accumulator / register values outside their annotated type
    input_misfits: int = 0      # input stream values outside the node's input datatype
    parameter_misfits: int = 0  # weights / thresholds outside their datatype (counted once)

    @property
    def flagged(self) -> int:
        return self.overflows + self.input_misfits + self.parameter_misfits

    def as_dict(self) -> dict:
        return asdict(self)


def within(values: np.ndarray, lo: int, hi: int) -> bool:
    """Whether every value lies in [lo, hi] (by the container's range, else one min/max pass)."""
    if values.size == 0:
        return True
    if values.dtype.kind in "ui":
        info = np.iinfo(values.dtype)
        if info.max <= hi and info.min >= lo:
            return True  # the container cannot hold a misfit
        if info.min >= lo:
            return int(values.max()) <= hi
    return bool(values.min() >= lo) and bool(values.max() <= hi)


def stream_misfits(dtype: IntType, values: np.ndarray) -> int:
    """Stream values outside ``dtype`` (1-bit types travel as bits 0/1)."""
    if values.dtype.kind in "ui":
        info = np.iinfo(values.dtype)
        if info.min >= (0 if dtype.bits == 1 else dtype.min) and info.max <= (1 if dtype.bits == 1 else dtype.max):
            return 0  # the container cannot hold a misfit
    if dtype.bits == 1 and not dtype.signed:
        if within(values, 0, 1):
            return 0
        return int(values.size - np.count_nonzero((values == 0) | (values == 1)))
    return 0 if within(values, dtype.min, dtype.max) else dtype.count_misfits(values)


def compact(values: np.ndarray, dtype: IntType) -> np.ndarray:
    """Store stream values in the narrowest numpy integer that holds ``dtype``."""
    if dtype.bits <= 8 and not dtype.signed:
        return values.astype(np.uint8, copy=False)
    if dtype.bits <= 8:
        return values.astype(np.int8, copy=False)
    if dtype.bits <= 16:
        return values.astype(np.int16 if dtype.signed else np.uint16, copy=False)
    if dtype.bits <= 32:
        return values.astype(np.int32 if dtype.signed else np.uint32, copy=False)
    return values.astype(np.int64, copy=False)


class Kernel:
    """Base of every simulator kernel (see module docstring)."""

    op_types: tuple[str, ...] = ()
    input_attr = "inputDataType"
    output_attr = "outputDataType"

    def __init__(self, node: NodeView):
        self.node = node
        self.stats = NodeStats(node.name, node.op_type)
        self.input_type = node.dtype_attr(self.input_attr)
        self.output_type = node.dtype_attr(self.output_attr)

    def execute(self, x: np.ndarray) -> np.ndarray:
        expected = self.input_shape()
        if tuple(x.shape[1:]) != expected:  # a stream is a sequence: only the element count matters
            if int(np.prod(x.shape[1:])) != int(np.prod(expected)):
                raise SimError(f"{self.node}: input shape {tuple(x.shape[1:])}, expected {expected}")
            x = x.reshape((x.shape[0],) + expected)
        self.stats.input_misfits += stream_misfits(self.input_type, x)
        return self.compute(x)

    def input_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def compute(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def exp_cycles(self) -> int:
        return 0

    def in_word_bits(self) -> int:
        """Width of the input stream word (bits)."""
        return self.input_type.bits * self.in_word_elems()

    def in_word_elems(self) -> int:
        raise NotImplementedError

    def out_word_elems(self) -> int:
        raise NotImplementedError


def vector_dims(node: NodeView) -> list[int]:
    return [int(v) for v in node.attr("numInputVectors", [1])]
