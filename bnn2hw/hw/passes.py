"""Graph passes bnn2hw adds to FINN's flow (qonnx ``Transformation`` classes, one ``apply`` each).

``MovePadAfterTranspose``: ``model.onnx`` zero-pads the raw NCHW image (``Pad`` with constant
0 on axes [2, 3]) before anything else; FINN's streamlining then puts its NCHW -> NHWC
``Transpose`` (perm [0, 2, 3, 1]) after that ``Pad``, and ``InferFMPadding`` only maps an NHWC
``Pad`` on axes [1, 2], so the padding would stay in software. The pass swaps the two nodes:
Transpose first, then the same padding on NHWC axes [1, 2], which FINN turns into an
``FMPadding`` HW layer. Values are unchanged (padding and transposing commute).
"""

from __future__ import annotations

import numpy as np
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_shapes import InferShapes

NCHW_TO_NHWC = [0, 2, 3, 1]


def _perm(node) -> list[int]:
    return [list(a.ints) for a in node.attribute if a.name == "perm"][0]


class MovePadAfterTranspose(Transformation):
    """Pad(NCHW, axes [2, 3], 0) -> Transpose(0,2,3,1)  becomes  Transpose -> Pad(NHWC, axes [1, 2])."""

    def apply(self, model):
        for pad in model.get_nodes_by_op_type("Pad"):
            consumers = model.find_consumers(pad.output[0]) or []
            if len(consumers) != 1 or consumers[0].op_type != "Transpose" or _perm(consumers[0]) != NCHW_TO_NHWC:
                continue
            if len(pad.input) < 4 or model.get_initializer(pad.input[3]) is None:
                continue
            if list(model.get_initializer(pad.input[3])) != [2, 3]:
                continue
            transpose = consumers[0]
            source, middle, sink = pad.input[0], pad.output[0], transpose.output[0]
            dtype = model.get_tensor_datatype(source)
            transpose.input[0], transpose.output[0] = source, middle
            pad.input[0], pad.output[0] = middle, sink
            model.set_initializer(pad.input[3], np.array([1, 2], dtype=np.int64))
            graph = model.graph
            graph.node.remove(pad)
            graph.node.insert(list(graph.node).index(transpose) + 1, pad)
            for value_info in [v for v in graph.value_info if v.name == middle]:
                graph.value_info.remove(value_info)
            model = model.transform(InferShapes())
            model.set_tensor_datatype(middle, dtype)
            model.set_tensor_datatype(sink, dtype)
            return model, True
        return model, False
