"""Reading FINN's ONNX files without FINN or qonnx: nodes, attributes, initializers, datatypes.

Contract: ``load_model(path)`` returns the ``onnx.ModelProto``; ``GraphView(model)`` indexes its
initializers (as numpy arrays), tensor datatype annotations (``finn_datatype`` in
``graph.quantization_annotation``) and shapes; ``NodeView(node, graph)`` gives a node's
``op_type``, ``name``, decoded attributes (``attr(name, default)``; a missing attribute without
default raises ``SimError`` naming the node), its initializer inputs and their datatypes.
``describe(node)`` is the "op_type 'name'" string every error message uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from bnn2hw.sim.datatypes import IntType, SimError, int_type

_MISSING = object()


def load_model(path) -> onnx.ModelProto:
    path = Path(path)
    if not path.is_file():
        raise SimError(f"{path}: no such file")
    try:
        return onnx.load(str(path))
    except Exception as err:  # onnx raises DecodeError and friends
        raise SimError(f"{path}: not a readable ONNX file ({err})") from None


def describe(node: onnx.NodeProto) -> str:
    return f"{node.op_type} {node.name!r}"


class GraphView:
    """Initializers, datatype annotations and shapes of one ONNX graph."""

    def __init__(self, model: onnx.ModelProto):
        self.model, self.graph = model, model.graph
        self.initializers = {t.name: numpy_helper.to_array(t) for t in self.graph.initializer}
        self.datatypes = {}
        for annotation in self.graph.quantization_annotation:
            for entry in annotation.quant_parameter_tensor_names:
                if entry.key == "finn_datatype":
                    self.datatypes[annotation.tensor_name] = entry.value
        self.shapes = {}
        for value in [*self.graph.input, *self.graph.output, *self.graph.value_info]:
            dims = value.type.tensor_type.shape.dim
            self.shapes[value.name] = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims)

    def nodes(self) -> list["NodeView"]:
        return [NodeView(node, self) for node in self.graph.node]


class NodeView:
    """One node with decoded attributes and access to its constant inputs."""

    def __init__(self, node: onnx.NodeProto, graph: GraphView):
        self.node, self.graph = node, graph
        self.op_type, self.name = node.op_type, node.name
        self.inputs, self.outputs = list(node.input), list(node.output)
        self.attrs = {}
        for attribute in node.attribute:
            value = helper.get_attribute_value(attribute)
            if isinstance(value, bytes):
                value = value.decode()
            elif isinstance(value, list):
                value = [v.decode() if isinstance(v, bytes) else v for v in value]
            self.attrs[attribute.name] = value

    def __str__(self) -> str:
        return describe(self.node)

    def attr(self, name: str, default=_MISSING):
        if name in self.attrs:
            return self.attrs[name]
        if default is _MISSING:
            raise SimError(f"{self}: attribute {name!r} missing")
        return default

    def dtype_attr(self, name: str) -> IntType:
        try:
            return int_type(self.attr(name))
        except SimError as err:
            raise SimError(f"{self}: {name}: {err}") from None

    def constant(self, index: int) -> np.ndarray:
        """Initializer feeding input ``index`` (weights, thresholds)."""
        if index >= len(self.inputs) or self.inputs[index] not in self.graph.initializers:
            raise SimError(f"{self}: input {index} is not an initializer")
        return self.graph.initializers[self.inputs[index]]

    def constant_dtype(self, index: int, fallback: str | None = None) -> IntType:
        name = self.graph.datatypes.get(self.inputs[index], fallback)
        if name is None:
            raise SimError(f"{self}: no datatype annotation on {self.inputs[index]!r}")
        return int_type(name)


def as_integers(values: np.ndarray, where: str) -> np.ndarray:
    """Float initializer -> int64, refusing anything that is not an exact integer."""
    ints = np.rint(values).astype(np.int64)
    if not np.array_equal(ints, values):
        raise SimError(f"{where}: holds non-integer values")
    return ints
