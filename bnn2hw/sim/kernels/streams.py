"""Stream plumbing that does not change values: width converters and FIFOs.

Contract: StreamingDataWidthConverter_{hls,rtl} regroups the same element sequence into words of
another width (``inShape`` -> ``outShape``, same element count and order); StreamingFIFO_{rtl,hls}
buffers it. Both pass values through unchanged (checking the element count and the datatype
``dataType``). FINN gives neither a ``get_exp_cycles`` (0 cycles in ``exp_cycles_per_layer``).
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
        if node.op_type.startswith("StreamingFIFO"):
            self.in_shape = self.out_shape = [int(v) for v in node.attr("normal_shape")]
        else:
            self.in_shape = [int(v) for v in node.attr("inShape")]
            self.out_shape = [int(v) for v in node.attr("outShape")]
        if int(np.prod(self.in_shape)) != int(np.prod(self.out_shape)):
            raise SimError(f"{node}: inShape {self.in_shape} and outShape {self.out_shape} differ in size")

    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.in_shape[1:])

    def in_word_elems(self) -> int:
        return 1

    out_word_elems = in_word_elems

    def compute(self, x: np.ndarray) -> np.ndarray:
        return x.reshape((x.shape[0],) + tuple(self.out_shape[1:]))
