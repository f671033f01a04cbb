"""``io_spec.json``: what the board driver must know about one build's accelerator, read from ONNX.

Contract: ``stream_spec(dataflow, parent)`` reads ``BUILD/hw/dataflow.onnx`` and
``dataflow_parent.onnx`` (onnx only; no finn, no qonnx) and returns the I/O part of the spec:
``image`` (raw uint8 (C, H, W) of the parent's input), ``preprocess`` (the parent's layout ops
before the ``StreamingDataflowPartition``: Transpose / Flatten / Reshape / Identity), and
``input`` / ``output``: datatype, ``shape_normal`` / ``shape_folded`` / ``shape_packed`` and
stream widths exactly as FINN's ``get_driver_shapes`` / ``InsertIODMA`` compute them from the
first / last node (``get_folded_input_shape``, ``get_instream_width_padded``, ...; finn-plus
1.6.1), the DMA instance names of FINN's zynq shell (``idma0`` / ``odma0``) and their AXI-MM
widths (``gcd(transfer bits, board port width)``). An output of ``kind`` ``scores`` (a ``--output scores`` build) also carries ``score_map``
(``multiply``, ``add``): the QONNX graph's integer score is ``multiply · word + add`` (2p − MW for
an XNOR layer's popcount p, else the value itself). ``finn_driver_information(spec)`` is the
``driver_information`` block FINN's ``MakePYNQDriver`` writes to ``settings.json``.
``DeployError`` is what the deploy stage raises, with a message for the user.
"""

from __future__ import annotations

import math

import onnx
from onnx import helper, numpy_helper

from bnn2hw.errors import CheckFailed
from bnn2hw.sim.kernels.mvau import score_affine

PARTITION_OP = "StreamingDataflowPartition"
LAYOUT_OPS = ("Transpose", "Flatten", "Reshape", "Identity")
# elements per stream word of a node's input / output, by op family (finn-plus 1.6.1 methods
# get_folded_input_shape / get_folded_output_shape); None = one element per word
IN_WORD = {"MVAU": "SIMD", "VVAU": "SIMD", "ConvolutionInputGenerator": "SIMD", "FMPadding": "SIMD",
           "Thresholding": "PE", "LabelSelect": "PE", "Pool": "PE", "Reshape": "PE"}
OUT_WORD = {"MVAU": "PE", "VVAU": "PE", "Thresholding": "PE", "LabelSelect": None, "Pool": "PE", "Reshape": "PE"}
# finn.util.basic.pynq_native_port_width (finn-plus 1.6.1): AXI HP port width per FINN board
NATIVE_PORT_WIDTH = {"Pynq-Z1": 64, "Pynq-Z2": 64, "Ultra96": 128, "Ultra96-V2": 128, "ZCU102": 128,
                     "ZCU104": 128, "ZCU111": 128, "RFSoC2x2": 128, "RFSoC4x2": 128, "KV260_SOM": 128,
                     "AUP-ZU3_8GB": 128}
PLATFORM = "zynq-iodma"


class DeployError(Exception):
    """A package that cannot be made; the message says why and what to do."""


class DeployCheckFailed(DeployError, CheckFailed):
    """The packaged driver ran and disagrees with bnn2hw.sim (exit status 1); nothing is replaced."""


def node_attrs(node: onnx.NodeProto) -> dict:
    out = {}
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        out[attribute.name] = value.decode() if isinstance(value, bytes) else value
    return out


def tensor_shape(graph: onnx.GraphProto, name: str) -> list[int]:
    for value in [*graph.input, *graph.output, *graph.value_info]:
        if value.name == name:
            return [d.dim_value for d in value.type.tensor_type.shape.dim]
    raise DeployError(f"no shape recorded for tensor {name!r}")


def tensor_datatype(graph: onnx.GraphProto, name: str) -> str | None:
    for annotation in graph.quantization_annotation:
        if annotation.tensor_name == name:
            for entry in annotation.quant_parameter_tensor_names:
                if entry.key == "finn_datatype":
                    return entry.value
    return None


def datatype_bits(name: str) -> int:
    """Bit width of a FINN integer datatype name (BIPOLAR, BINARY, UINTn, INTn)."""
    if name in ("BIPOLAR", "BINARY"):
        return 1
    for prefix in ("UINT", "INT"):
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            return int(name[len(prefix):])
    raise DeployError(f"datatype {name} is not an integer type bnn2hw deploy supports")


FAMILY_ALIASES = {"MVAUBinary": "MVAU"}  # bnn2hw's RTL MVAU streams as FINN's MVAU does


def _family(op_type: str) -> str:
    family = op_type.rsplit("_", 1)[0] if op_type.endswith(("_hls", "_rtl")) else op_type
    return FAMILY_ALIASES.get(family, family)


def _word_elems(node: onnx.NodeProto, table: dict, side: str) -> int:
    family = _family(node.op_type)
    if family not in table:
        raise DeployError(f"the accelerator's {side} node {node.op_type} {node.name!r} is not supported "
                          f"by bnn2hw deploy (supported: {', '.join(sorted(table))})")
    attr = table[family]
    return 1 if attr is None else int(node_attrs(node).get(attr, 1))  # FINN leaves a default PE of 1 out


def stream_side(graph: onnx.GraphProto, node: onnx.NodeProto, tensor: str, side: str, dma: str,
                port_width: int | None) -> dict:
    """One DMA side: datatype, normal / folded / packed shapes, widths (FINN's get_driver_shapes)."""
    attrs = node_attrs(node)
    dtype = tensor_datatype(graph, tensor) or attrs.get("dtype") or attrs[
        "inputDataType" if side == "input" else "outputDataType"]
    bits = datatype_bits(dtype)
    normal = tensor_shape(graph, tensor)
    elems = _word_elems(node, IN_WORD if side == "input" else OUT_WORD, side)
    if normal[-1] % elems:
        raise DeployError(f"{node.name}: {elems} elements per word do not divide {normal[-1]}")
    folded = normal[:-1] + [normal[-1] // elems, elems]
    width = elems * bits
    padded = -(-width // 8) * 8
    spec = {"tensor": tensor, "datatype": dtype, "bits": bits, "shape_normal": normal,
            "shape_folded": folded, "shape_packed": folded[:-1] + [padded // 8],
            "stream_width_bits": width, "stream_width_padded_bits": padded, "dma": dma, "node": node.name}
    if port_width:
        spec["dma_intf_width_bits"] = math.gcd(padded * math.prod(folded[:-1]), port_width)
    return spec


def layout_ops(parent: onnx.ModelProto) -> tuple[list[dict], list[int]]:
    """(ops before the partition, raw image shape without batch) of the parent graph."""
    graph = parent.graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    ops, nodes = [], list(graph.node)
    for index, node in enumerate(nodes):
        if node.op_type == PARTITION_OP:
            if any(n.op_type not in ("Identity",) for n in nodes[index + 1:]):
                raise DeployError("the parent graph has software ops after the dataflow partition "
                                  f"({', '.join(n.op_type for n in nodes[index + 1:])}); the driver "
                                  "expects the accelerator to end the network")
            return ops, tensor_shape(graph, graph.input[0].name)[1:]
        if node.op_type not in LAYOUT_OPS:
            raise DeployError(f"the parent graph runs {node.op_type} {node.name!r} in software before the "
                              f"accelerator; the driver supports only {', '.join(LAYOUT_OPS)}")
        op = {"op": node.op_type, **{k: v for k, v in node_attrs(node).items() if k in ("perm", "axis")}}
        if node.op_type == "Reshape":
            op["shape"] = [int(v) for v in inits[node.input[1]]]
        ops.append(op)
    raise DeployError(f"the parent graph has no {PARTITION_OP} node")


def stream_spec(dataflow: onnx.ModelProto, parent: onnx.ModelProto | None, finn_board: str | None) -> dict:
    graph = dataflow.graph
    if not graph.node:
        raise DeployError("the dataflow graph has no nodes")
    if parent is None:  # FINN's default parents: flatten rank-4 input for an MLP
        preprocess, image = [], tensor_shape(graph, graph.input[0].name)[1:]
    else:
        preprocess, image = layout_ops(parent)
    port = NATIVE_PORT_WIDTH.get(finn_board or "")
    first, last = graph.node[0], graph.node[-1]
    out = stream_side(graph, last, graph.output[0].name, "output", "odma0", port)
    out["kind"] = "labels" if _family(last.op_type) == "LabelSelect" else "scores"
    if out["kind"] == "scores":
        out["score_map"] = score_map(last)
    return {"image": {"shape": image, "dtype": "uint8", "range": [0, 255]}, "preprocess": preprocess,
            "input": stream_side(graph, first, graph.input[0].name, "input", "idma0", port),
            "output": out, "platform": PLATFORM, "board_port_width_bits": port}


def score_map(node: onnx.NodeProto) -> dict:
    """How the last layer's output words become the QONNX graph's integer scores."""
    attrs = node_attrs(node)
    xnor = _family(node.op_type) == "MVAU" and bool(int(attrs.get("binaryXnorMode", 0)))
    multiply, add = score_affine(xnor, int(attrs.get("MW", 0)))
    return {"multiply": multiply, "add": add}


def finn_driver_information(spec: dict) -> dict:
    """FINN's settings.json ``driver_information`` for this package (finn-plus-driver FINNDMAOverlay)."""
    io = {}
    for key, side in (("i", spec["input"]), ("o", spec["output"])):
        io[f"{key}dt"] = [f"DataType['{side['datatype']}']"]
        io[f"{key}dma_names"] = [side["dma"]]
        for kind in ("normal", "folded", "packed"):
            io[f"{key}shape_{kind}"] = [side[f"shape_{kind}"]]
    io.update(num_inputs=1, num_outputs=1, number_of_external_weights=0, external_weights_input_shapes={})
    return {"driver_type": "FINNDMAOverlay", "io_shape_dict": io, "external_weights": False,
            "runtime_weights": bool(spec.get("runtime_weights")), "platform": PLATFORM,
            "fclk_mhz": spec["build"]["clock_mhz"]}
