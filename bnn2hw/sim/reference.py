"""The build's reference: ``BUILD/model.onnx`` (QONNX) executed with numpy, integers throughout.

Contract: ``run_model(path, images)`` executes the graph ``bnn2hw compile`` writes — standard
ONNX ``Pad``, ``Flatten``, ``MatMul``, ``Conv`` (group 1, no padding), ``MaxPool`` (no padding),
``TopK`` and qonnx ``MultiThreshold`` (``out_bias + out_scale·#{T ≤ x}``, NCHW or NC) — on raw
uint8 images (N, C, H, W) and returns ``(labels (N,), scores (N, classes))`` as int64: the
graph's output and the input of its TopK. Every tensor is an int64 array; dot products use the
exact integer matmul of the MVAU kernel. Any other op raises ``SimError`` naming it;
``unsupported_nodes(path)`` lists them beforehand (an imported Brevitas export's ``Quant``,
``Gemm``, ``BatchNormalization``, ``Div``: float graphs, which ``bnn2hw.sim.compare`` hands to
qonnx's execution instead). The compile
stage has already verified ``model.onnx`` under qonnx's ``execute_onnx`` against the torch
integer reference on the whole test split, so this is rung 2 of the ladder, re-executed fast and
without qonnx; ``bnn2hw.sim.compare`` can cross-check it with qonnx.
"""

from __future__ import annotations

import numpy as np

from bnn2hw.sim.datatypes import SimError
from bnn2hw.sim.graph import GraphView, NodeView, as_integers, load_model
from bnn2hw.sim.kernels.mvau import exact_matmul
from bnn2hw.sim.kernels.window import sliding_windows


def multithreshold(node: NodeView, x: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    channels_axis = 1
    shape = [1] * x.ndim
    shape[channels_axis] = -1
    count = np.zeros(x.shape, dtype=np.int64)
    for step in range(thresholds.shape[1]):
        t = thresholds[:, step]
        count += x >= (t.reshape(shape) if len(t) > 1 else t[0])
    scale, bias = node.attr("out_scale", 1.0), node.attr("out_bias", 0.0)
    if scale != int(scale) or bias != int(bias):
        raise SimError(f"{node}: non-integer out_scale/out_bias")
    return int(scale) * count + int(bias)


def conv(node: NodeView, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    if any(node.attr("pads", [0, 0, 0, 0])) or node.attr("group", 1) != 1:
        raise SimError(f"{node}: only unpadded, group-1 convolutions are supported")
    k = weight.shape[2:]
    windows = sliding_windows(x.transpose(0, 2, 3, 1), k, node.attr("strides", [1, 1]),
                              node.attr("dilations", [1, 1]))           # N OH OW kh kw C
    n, oh, ow = windows.shape[:3]
    patches = windows.transpose(0, 1, 2, 5, 3, 4).reshape(n * oh * ow, -1)  # C, kh, kw order
    out = exact_matmul(patches, weight.reshape(len(weight), -1).T)
    return out.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)


def max_pool(node: NodeView, x: np.ndarray) -> np.ndarray:
    if any(node.attr("pads", [0, 0, 0, 0])):
        raise SimError(f"{node}: padded MaxPool is not supported")
    k = node.attr("kernel_shape")
    s = node.attr("strides", k)
    windows = sliding_windows(x.transpose(0, 2, 3, 1), k, s, [1, 1])
    return windows.max(axis=(3, 4)).transpose(0, 3, 1, 2)


def pad(node: NodeView, x: np.ndarray) -> np.ndarray:
    pads = [int(v) for v in node.constant(1)]
    value = float(node.constant(2)) if len(node.inputs) > 2 and node.inputs[2] else 0.0
    axes = [int(v) for v in node.constant(3)] if len(node.inputs) > 3 and node.inputs[3] else list(range(x.ndim))
    widths = [(0, 0)] * x.ndim
    for i, axis in enumerate(axes):
        widths[axis] = (pads[i], pads[i + len(axes)])
    if node.attr("mode", "constant") != "constant" or value != int(value):
        raise SimError(f"{node}: only constant integer padding is supported")
    return np.pad(x, widths, constant_values=int(value))


SUPPORTED_OPS = ("MultiThreshold", "MatMul", "Conv", "Flatten", "MaxPool", "Pad", "TopK")


def unsupported_nodes(path) -> list[str]:
    """The nodes of the graph at ``path`` this reference cannot run (an imported QONNX's Quant, Gemm, ...)."""
    return [f"{n.op_type} {n.name!r}" for n in load_model(path).graph.node if n.op_type not in SUPPORTED_OPS]


def _step(node: NodeView, x: np.ndarray):
    op = node.op_type
    if op == "MultiThreshold":
        return multithreshold(node, x, as_integers(node.constant(1), str(node)))
    if op == "MatMul":
        return exact_matmul(x, as_integers(node.constant(1), str(node)))
    if op == "Conv":
        return conv(node, x, as_integers(node.constant(1), str(node)))
    if op == "Flatten":
        axis = node.attr("axis", 1)
        return x.reshape(int(np.prod(x.shape[:axis])), -1)
    if op == "MaxPool":
        return max_pool(node, x)
    if op == "Pad":
        return pad(node, x)
    if op == "TopK":
        k = int(node.constant(1)[0])
        order = np.argsort(-x, axis=-1, kind="stable")[:, :k]  # ONNX: ties -> lower index first
        return np.take_along_axis(x, order, axis=-1), order
    raise SimError(f"model.onnx: no reference support for node {op} {node.name!r}")


def run_model(path, images: np.ndarray, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    graph = GraphView(load_model(path))
    nodes = graph.nodes()
    topk = [n for n in nodes if n.op_type == "TopK"]
    if len(topk) != 1:
        raise SimError(f"{path}: expected exactly one TopK node")
    labels, scores = [], []
    for start in range(0, len(images), chunk):
        context = {graph.graph.input[0].name: images[start:start + chunk].astype(np.int64)}
        for node in nodes:
            result = _step(node, context[node.inputs[0]])
            for name, value in zip(node.outputs, result if isinstance(result, tuple) else (result,)):
                context[name] = value
        out = context[graph.graph.output[0].name]
        labels.append(out.reshape(len(out), -1)[:, 0])
        scores.append(context[topk[0].inputs[0]].reshape(len(out), -1))
    if not labels:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.int64)
    return np.concatenate(labels).astype(np.int64), np.concatenate(scores).astype(np.int64)
