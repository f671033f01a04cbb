"""Stream plumbing that does not change values: width converters and FIFOs.

Contract: StreamingDataWidthConverter_{hls,rtl} regroups the same element sequence into words of
another width (``inShape`` -> ``outShape``, same element count and order); StreamingFIFO_{rtl,hls}
buffers it. Both pass values through unchanged (checking the element count and the datatype
``dataType``). FINN gives neither a ``get_exp_cycles`` (0 cycles in ``exp_cycles_per_layer``).
Reshape_{rtl,hls} (finn-plus 1.6.1's HW ``Reshape``, e.g. the ``x.view(N, -1)`` of Brevitas'
BNN-PYNQ FC models) is the same pass-through of the element sequence from ``inp_shape`` to
``out_shape`` (datatype ``dtype``), ``PE`` elements per word, one word per cycle.
"""

from __future__ import annotations

import numpy as np

from bnn2hw.sim.datatypes import SimError
from bnn2hw.sim.graph import NodeView
from bnn2hw.sim.kernels.base import Kernel


class PassThrough(Kernel):
    op_types = ("StreamingDataWidthConverter_hls", "StreamingDataWidthConverter_rtl",
                "StreamingFIFO_rtl", "StreamingFIFO_hls")
    input_attr = output_attr = "dataType"

    def __init__(self, node: NodeView):
        super().__init__(node)
        self.in_shape, self.out_shape = self.shapes(node)
        if int(np.prod(self.in_shape)) != int(np.prod(self.out_shape)):
            raise SimError(f"{node}: input shape {self.in_shape} and output shape {self.out_shape} differ in size")

    @staticmethod
    def shapes(node: NodeView) -> tuple[list[int], list[int]]:
        if node.op_type.startswith("StreamingFIFO"):
            shape = [int(v) for v in node.attr("normal_shape")]
            return shape, shape
        return [int(v) for v in node.attr("inShape")], [int(v) for v in node.attr("outShape")]

    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.in_shape[1:])

    def in_word_elems(self) -> int:
        return 1

    out_word_elems = in_word_elems

    def compute(self, x: np.ndarray) -> np.ndarray:
        return x.reshape((x.shape[0],) + tuple(self.out_shape[1:]))


class Reshape(PassThrough):
    op_types = ("Reshape_rtl", "Reshape_hls")
    input_attr = output_attr = "dtype"

    def __init__(self, node: NodeView):
        super().__init__(node)
        self.pe = int(node.attr("PE", 1))
        if self.in_shape[-1] % self.pe or self.out_shape[-1] % self.pe:
            raise SimError(f"{node}: PE {self.pe} does not divide the last axis of {self.in_shape} and "
                           f"{self.out_shape}")

    @staticmethod
    def shapes(node: NodeView) -> tuple[list[int], list[int]]:
        return [int(v) for v in node.attr("inp_shape")], [int(v) for v in node.attr("out_shape")]

    def in_word_elems(self) -> int:
        return self.pe

    out_word_elems = in_word_elems

    def exp_cycles(self) -> int:
        return int(np.prod(self.out_shape)) // self.pe
