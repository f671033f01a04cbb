"""Emit an ``IntegerNetwork`` as a QONNX graph (``BUILD/model.onnx``).

Contract: ``to_qonnx(net)`` returns a qonnx ``ModelWrapper`` of standard ONNX ops plus qonnx's
own ``MultiThreshold`` (domain ``qonnx.custom_op.general``), batch size 1 (FINN's convention;
``with_batch`` re-shapes a copy for batched execution):

    image   UINT8 (1, C, H, W), raw pixels, NCHW
    [Pad]   zero padding of raw pixels (CNV), before binarization, so it pads with -1
    MultiThreshold(T=128, out_dtype BIPOLAR, out_scale 2, out_bias -1)   (1-bit input)
    per binary layer: MatMul (Flatten first) or Conv (unpadded, stride 1) with a BIPOLAR
        float initializer; a hidden layer is followed by MultiThreshold with one integer
        threshold per channel (out_dtype BIPOLAR, out_scale 2, out_bias -1), [MaxPool 2x2]
    scores  the last layer's integer accumulators (OutputScale, a positive scalar, is dropped)
    TopK(k=1) -> label, the graph's only output, INT64 (1, 1)

A channel with negative γ (flip) has its weight row negated in the graph, so every
MultiThreshold is the standard ``acc >= T``. Thresholds are integers; every threshold tensor
and accumulator is annotated with the smallest qonnx integer datatype that holds it.
"""

from __future__ import annotations


import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import qonnx_make_model

from bnn2hw import onnx_batch
from bnn2hw.compile.integer_net import (
    ArgMax, Binarize, Conv, Dense, Flatten, IntegerNetwork, MaxPool, Pad, Threshold,
)

QONNX_DOMAIN = "qonnx.custom_op.general"
INPUT, SCORES, LABEL = "global_in", "scores", "global_out"
OPSET = 18  # Pad with an axes input (FINN's InferFMPadding reads input 3)
EXACT_FLOAT32 = 2 ** 24


def _signed_dtype(lo: int, hi: int) -> DataType:
    bits = max(lo.bit_length(), hi.bit_length(), 1) + 1
    return DataType[f"INT{bits}"]


class _GraphBuilder:
    """Accumulates nodes, initializers and datatype annotations."""

    def __init__(self):
        self.nodes, self.inits, self.dtypes, self.count = [], [], {}, 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, prefix: str, value: np.ndarray, dtype: DataType | None = None) -> str:
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(value, name))
        if dtype is not None:
            self.dtypes[name] = dtype
        return name

    def node(self, op: str, inputs: list[str], prefix: str, n_out: int = 1, **attrs) -> list[str]:
        outs = [self.name(prefix + "_out") for _ in range(n_out)]
        domain = QONNX_DOMAIN if op == "MultiThreshold" else ""
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.name(prefix), domain=domain, **attrs))
        return outs


def _threshold_node(g: _GraphBuilder, x: str, thresholds: np.ndarray, layout: str) -> str:
    if np.abs(thresholds).max(initial=0) >= EXACT_FLOAT32:
        raise OverflowError("thresholds beyond 2**24 are not exact in float32")
    t = g.const("thresholds", thresholds.reshape(-1, 1).astype(np.float32),
                _signed_dtype(int(thresholds.min()), int(thresholds.max())))
    (out,) = g.node("MultiThreshold", [x, t], "MultiThreshold", out_dtype="BIPOLAR",
                    out_scale=2.0, out_bias=-1.0, data_layout=layout)
    g.dtypes[out] = DataType["BIPOLAR"]
    return out


def _weights_with_flips(weight: np.ndarray, threshold: Threshold | None) -> np.ndarray:
    if threshold is None:
        return weight
    signs = np.where(threshold.flip, -1, 1).astype(weight.dtype)
    return weight * signs.reshape((-1,) + (1,) * (weight.ndim - 1))


def _emit_ops(g: _GraphBuilder, net: IntegerNetwork) -> None:
    x, ops, rank = INPUT, list(net.ops), 4
    for i, op in enumerate(ops):
        nxt = ops[i + 1] if i + 1 < len(ops) else None
        if isinstance(op, Pad):
            pads = np.array([op.top, op.left, op.bottom, op.right], dtype=np.int64)
            zero, axes = np.zeros((), np.float32), np.array([2, 3], np.int64)  # NCHW: pad H, W
            (x,) = g.node("Pad", [x, g.const("pads", pads), g.const("pad_value", zero),
                                  g.const("pad_axes", axes)], "Pad", mode="constant")
            g.dtypes[x] = DataType["UINT8"]
        elif isinstance(op, Binarize):
            x = _threshold_node(g, x, np.array([op.threshold], np.int64), "NCHW" if rank == 4 else "NC")
        elif isinstance(op, Flatten):
            (x,) = g.node("Flatten", [x], "Flatten", axis=1)
            rank = 2
        elif isinstance(op, (Dense, Conv)):
            w = _weights_with_flips(op.weight, nxt if isinstance(nxt, Threshold) else None).astype(np.float32)
            if isinstance(op, Dense):
                (x,) = g.node("MatMul", [x, g.const("weights", np.ascontiguousarray(w.T), DataType["BIPOLAR"])],
                              "MatMul")
            else:
                k = w.shape[-1]
                (x,) = g.node("Conv", [x, g.const("weights", w, DataType["BIPOLAR"])], "Conv",
                              kernel_shape=[k, k], pads=[0, 0, 0, 0], strides=[1, 1], dilations=[1, 1],
                              group=1)
        elif isinstance(op, Threshold):
            x = _threshold_node(g, x, op.threshold, "NCHW" if rank == 4 else "NC")
        elif isinstance(op, MaxPool):
            (x,) = g.node("MaxPool", [x], "MaxPool", kernel_shape=[op.kernel] * 2,
                          strides=[op.kernel] * 2, pads=[0, 0, 0, 0])
            g.dtypes[x] = DataType["BIPOLAR"]
        elif isinstance(op, ArgMax):
            g.nodes[-1].output[0] = SCORES
            _, idx = g.node("TopK", [SCORES, g.const("k", np.array([1], np.int64))], "TopK",
                            n_out=2, axis=-1, largest=1, sorted=1)
            g.nodes[-1].output[1] = LABEL
        else:
            raise TypeError(f"no QONNX emission for {type(op).__name__}")


def to_qonnx(net: IntegerNetwork) -> ModelWrapper:
    """The QONNX model of ``net`` (see module docstring)."""
    g = _GraphBuilder()
    _emit_ops(g, net)
    graph = helper.make_graph(
        g.nodes, "bnn2hw", [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, *net.in_shape])],
        [helper.make_tensor_value_info(LABEL, TensorProto.INT64, [1, 1])], initializer=g.inits)
    graph.doc_string = __doc__
    model = ModelWrapper(qonnx_make_model(graph, producer_name="bnn2hw",
                                          opset_imports=[helper.make_opsetid("", OPSET),
                                                         helper.make_opsetid(QONNX_DOMAIN, 1)]))
    model = model.transform(InferShapes())
    model.set_tensor_datatype(INPUT, DataType["UINT8"])
    for name, dtype in g.dtypes.items():
        model.set_tensor_datatype(name, dtype)
    return model.transform(InferDataTypes())


def with_batch(model: ModelWrapper, batch: int) -> ModelWrapper:
    """A copy of batch-1 ``model`` in which every activation tensor has batch size ``batch``."""
    return ModelWrapper(onnx_batch.with_batch(model.model, batch))


def save(model: ModelWrapper, path) -> None:
    onnx.checker.check_model(model.model)
    model.save(str(path))
