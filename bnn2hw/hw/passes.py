"""Graph passes bnn2hw adds to FINN's flow (qonnx ``Transformation`` classes, one ``apply`` each).

``MovePadAfterTranspose``: ``model.onnx`` zero-pads the raw NCHW image (``Pad`` with constant
0 on axes [2, 3]) before anything else; FINN's streamlining then puts its NCHW -> NHWC
``Transpose`` (perm [0, 2, 3, 1]) after that ``Pad``, and ``InferFMPadding`` only maps an NHWC
``Pad`` on axes [1, 2], so the padding would stay in software. The pass swaps the two nodes:
Transpose first, then the same padding on NHWC axes [1, 2], which FINN turns into an
``FMPadding`` HW layer. Values are unchanged (padding and transposing commute).

``WidenXnorAccumulators``: finn-plus 1.6.1's ``minimize_accumulator_width`` sizes an XNOR-mode
MVAU's accumulator as if it held Σ x·w with x ∈ {0, 1}, w = ±1, but finn-hlslib's XNOR kernel
adds up the popcount, which reaches MW (LFC's first layer: MW = 784 in an ap_int<10>, max 511).
The hardware would wrap and disagree with the network; FINN's Python execution ignores widths
and does not see it (found by ``bnn2hw.sim``). The pass widens every XNOR MVAU to
INT(bitlen(MW) + 1): its accDataType, its threshold tensor's datatype, and, for a layer
without activation, its outputDataType and the input datatype of the layer that reads it.

``DropLabelSelect``: for ``--output scores``, removes the LabelSelect HW layer that ends the
graph, so the graph output is the tensor it read: the last MVAU's accumulators (for an XNOR
layer the popcount p, whose QONNX score is 2p - MW; ``bnn2hw.sim`` maps it). Run after the
HW-layer graph is saved (the label check still runs on it) and before the dataflow partition.
"""

from __future__ import annotations

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.custom_op.registry import getCustomOp
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


def popcount_datatype(mw: int, current: DataType) -> DataType:
    """The narrowest signed type holding a popcount in [0, MW], never narrower than ``current``."""
    bits = max(int(mw).bit_length() + 1, current.bitwidth())
    return DataType[f"INT{bits}"]


def set_input_datatype(node, tensor: str, dtype: DataType) -> None:
    """Tell HW node ``node`` that its input ``tensor`` now has ``dtype``, under the attribute its op
    uses: ``inputDataType`` (MVAU, Thresholding, LabelSelect, ...), ``lhs_dtype`` / ``rhs_dtype``
    (FINN's ElementwiseBinary ops, e.g. the ElementwiseMul of a Brevitas TensorNorm tail), ``dtype``
    (Reshape) or ``dataType`` (FIFOs, width converters)."""
    op = getCustomOp(node)
    attrs = op.get_nodeattr_types()
    if "lhs_dtype" in attrs:
        for side in [s for n, s in zip(node.input, ("lhs_dtype", "rhs_dtype")) if n == tensor]:
            op.set_nodeattr(side, dtype.name)
        return
    for attr in ("inputDataType", "dtype", "dataType"):
        if attr in attrs:
            op.set_nodeattr(attr, dtype.name)
            return
    raise ValueError(f"{node.op_type} {node.name!r}: no input datatype attribute to widen to {dtype.name}")


class WidenXnorAccumulators(Transformation):
    """Every XNOR-mode MVAU gets an accumulator (and thresholds) wide enough for its popcount."""

    def apply(self, model):
        for node in model.graph.node:
            if not node.op_type.startswith("MVAU"):
                continue
            op = getCustomOp(node)
            if not op.get_nodeattr("binaryXnorMode"):
                continue
            wide = popcount_datatype(op.get_nodeattr("MW"), DataType[op.get_nodeattr("accDataType")])
            op.set_nodeattr("accDataType", wide.name)
            if op.get_nodeattr("noActivation"):
                op.set_nodeattr("outputDataType", wide.name)
                model.set_tensor_datatype(node.output[0], wide)
                for consumer in model.find_consumers(node.output[0]) or []:
                    set_input_datatype(consumer, node.output[0], wide)
            elif len(node.input) > 2:
                model.set_tensor_datatype(node.input[2], wide)
        return model, False


class DropLabelSelect(Transformation):
    """LabelSelect ending the graph -> gone; the graph outputs the scores it read."""

    def apply(self, model):
        graph = model.graph
        last = graph.node[-1] if len(graph.node) else None
        if last is None or not last.op_type.startswith("LabelSelect") or last.output[0] != graph.output[0].name:
            raise ValueError("expected the graph to end in a LabelSelect layer (model.onnx ends in TopK)")
        scores = last.input[0]
        info = model.get_tensor_valueinfo(scores)
        graph.node.remove(last)
        graph.output.remove(graph.output[0])
        if info in graph.value_info:
            graph.value_info.remove(info)
        graph.output.append(info)
        return model.transform(InferShapes()), False
