"""Batched execution of a batch-1 ONNX graph under qonnx: many images per call.

Contract: ``with_batch(proto, batch)`` returns a copy of the ``onnx.ModelProto`` in which every
activation tensor (graph inputs, outputs and value_info whose first dimension is 1, initializers
left alone) has first dimension ``batch``, and every constant ``Reshape`` target of the form
(1, ...) (Brevitas' flatten ``x.view(N, -1)``) becomes (batch, ...). ``without_annotations`` drops
the datatype annotations, so qonnx's execution does not round tensors to them (slow, and it
would hide a non-integer value). ``integers_if_exact(values)`` gives int64 when every value is an
integer, else the values unchanged (an imported model's float scores).
``execute_batched(proto, images, names, chunk, desc)`` runs ``qonnx.core.onnx_exec.execute_onnx`` on
batches of ``chunk`` images (with ``bnn2hw.progress`` named ``desc``) (one re-shaped, annotation-free copy per batch size) and returns the
named tensors, each (N, -1) float64. ``labels_and_scores(proto, images, chunk, source)`` runs a
graph that ends in one TopK: (labels int64, the TopK input as ``integers_if_exact``), raising
``ValueError`` naming ``source`` and the tensor for a graph without one TopK or non-integer labels.
Imports onnx and numpy, qonnx only when executing, so
compile and sim (which never imports qonnx otherwise) both use it.
"""

from __future__ import annotations

import copy

import numpy as np
import onnx
from onnx import numpy_helper


def with_batch(proto: onnx.ModelProto, batch: int) -> onnx.ModelProto:
    proto = copy.deepcopy(proto)
    inits = {init.name: init for init in proto.graph.initializer}
    for value in [*proto.graph.input, *proto.graph.output, *proto.graph.value_info]:
        dims = value.type.tensor_type.shape.dim
        if value.name not in inits and len(dims) and dims[0].dim_value == 1:
            dims[0].dim_value = batch
    for node in proto.graph.node:
        if node.op_type == "Reshape" and len(node.input) > 1 and node.input[1] in inits:
            shape = numpy_helper.to_array(inits[node.input[1]])
            if len(shape) and shape[0] == 1:
                target = numpy_helper.from_array(np.array([batch, *shape[1:]], dtype=np.int64), node.input[1])
                inits[node.input[1]].CopyFrom(target)
    return proto


def without_annotations(proto: onnx.ModelProto) -> onnx.ModelProto:
    del proto.graph.quantization_annotation[:]
    return proto


def integers_if_exact(values: np.ndarray) -> np.ndarray:
    as_int = np.rint(values).astype(np.int64)
    return as_int if np.array_equal(as_int, values) else values


def execute_batched(proto: onnx.ModelProto, images: np.ndarray, names: list[str], chunk: int,
                    desc: str = "qonnx execution") -> list[np.ndarray]:
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    from bnn2hw.progress import progress
    name_in, outs, batched = proto.graph.input[0].name, [[] for _ in names], {}
    for start in progress(range(0, len(images), chunk), f"{desc} ({len(images)} images)"):
        x = images[start:start + chunk]
        if len(x) not in batched:
            batched[len(x)] = ModelWrapper(without_annotations(with_batch(proto, len(x))))
        ctx = execute_onnx(batched[len(x)], {name_in: x.astype(np.float32)}, return_full_exec_context=True)
        for out, name in zip(outs, names):
            out.append(np.asarray(ctx[name], np.float64).reshape(len(x), -1))
    return [np.concatenate(out) if out else np.zeros((0, 0)) for out in outs]


def labels_and_scores(proto: onnx.ModelProto, images: np.ndarray, chunk: int,
                      source: str = "model.onnx") -> tuple[np.ndarray, np.ndarray]:
    topk = [node for node in proto.graph.node if node.op_type == "TopK"]
    if len(topk) != 1:
        raise ValueError(f"{source}: expected exactly one TopK node ending the graph")
    name_out = proto.graph.output[0].name
    labels, scores = execute_batched(proto, images, [name_out, topk[0].input[0]], chunk, f"executing {source}")
    labels = labels[:, 0] if labels.size else np.zeros(0)
    as_int = np.rint(labels).astype(np.int64)
    if not np.array_equal(as_int, labels):
        raise ValueError(f"{source}: QONNX execution produced non-integer labels in {name_out!r}")
    return as_int, integers_if_exact(scores)
