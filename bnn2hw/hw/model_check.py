"""What ``bnn2hw build`` accepts as its input graph, checked before FINN sees it.

Contract: ``check_build_input(path)`` returns nothing for a file that is a binary QONNX network
(what ``bnn2hw compile`` writes, or a QONNX export with ``Quant`` / ``BipolarQuant`` nodes) and
raises ``HwError`` naming the file and the fault otherwise: an empty file, a file that is not
ONNX, a graph without nodes, inputs or outputs, an op outside ``SUPPORTED_OPS`` (named with its
node), or a MatMul / Gemm / Conv whose weight initializer is not binary (values other than ±1:
a float network FINN would lower into wrong hardware). Only onnx is imported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from bnn2hw.hw.config import HwError

# Ops FINN's w1a1 flow lowers (qonnx's MultiThreshold, Quant and BipolarQuant, plus the standard
# ops a binary MLP or CNN export uses).
SUPPORTED_OPS = frozenset({
    "MatMul", "Gemm", "Conv", "MultiThreshold", "TopK", "Flatten", "Reshape", "Transpose", "MaxPool",
    "Pad", "Mul", "Add", "Sub", "Div", "BatchNormalization", "Identity", "Quant", "BipolarQuant", "Trunc",
    "Sign", "Relu", "Squeeze", "Unsqueeze", "Concat", "GlobalAveragePool", "AveragePool", "Shape", "Gather",
    "Constant", "Cast", "Clip", "QuantAvgPool2d", "ArgMax",
})
WEIGHTED_OPS = ("MatMul", "Gemm", "Conv")


def _load(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise HwError(f"{path}: no such model; run `bnn2hw compile` first, or import a QONNX export with "
                      f"`bnn2hw build BUILD --model FILE.onnx`")
    if path.stat().st_size == 0:
        raise HwError(f"{path}: empty file, not an ONNX model; run `bnn2hw compile` again")
    try:
        return onnx.load(str(path))
    except (DecodeError, ValueError, OSError) as err:
        raise HwError(f"{path}: not an ONNX model ({type(err).__name__}: {err})") from None


def check_build_input(path) -> None:
    """See module docstring."""
    path = Path(path)
    model = _load(path)
    graph = model.graph
    if not graph.node or not graph.input or not graph.output or not model.opset_import:
        raise HwError(f"{path}: not a QONNX network (no nodes, inputs, outputs or opset); "
                      f"run `bnn2hw compile` to make one")
    unsupported = [f"{n.op_type} ({n.name or 'unnamed'})" for n in graph.node if n.op_type not in SUPPORTED_OPS]
    if unsupported:
        raise HwError(f"{path}: unsupported op(s) {', '.join(unsupported)}; bnn2hw build takes binary "
                      f"networks of {', '.join(sorted(SUPPORTED_OPS))}")
    inits = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type in WEIGHTED_OPS and len(node.input) > 1 and node.input[1] in inits:
            weights = numpy_helper.to_array(inits[node.input[1]])
            if weights.size and not np.all(np.abs(weights) == 1):
                odd = weights[np.abs(weights) != 1].ravel()[:3]
                raise HwError(f"{path}: {node.op_type} {node.name or node.input[1]!r} has non-binary weights "
                              f"{node.input[1]!r} (values such as {', '.join(f'{v:g}' for v in odd)}); bnn2hw "
                              f"build takes binary (±1) networks: compile a trained run with `bnn2hw compile`")
