"""The driver's stream packing and the deploy stage's FINN layouts agree with FINN's own functions."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from bnn2hw.deploy import bnn2hw_driver as drv
from bnn2hw.deploy.io_spec import NATIVE_PORT_WIDTH, stream_spec
from bnn2hw.deploy.weights import runtime_layers, runtime_words, weights_from_words
from bnn2hw.hw.finn_env import import_finn

TYPES = ["BIPOLAR", "BINARY", "UINT2", "UINT3", "UINT8", "INT3", "INT7", "INT8", "UINT16", "INT12"]


def random_values(rng, name: str, shape) -> np.ndarray:
    low, high = drv.value_range(name)
    if name == "BIPOLAR":
        return rng.choice([-1, 1], size=shape)
    return rng.integers(low, high + 1, size=shape)


@pytest.mark.parametrize("name", TYPES)
@pytest.mark.parametrize("elems", [1, 3, 8, 13, 64])
def test_pack_unpack_round_trip(name, elems):
    rng = np.random.default_rng(elems)
    values = random_values(rng, name, (5, 4, elems))
    packed = drv.pack_stream(values, name)
    assert packed.dtype == np.uint8 and packed.shape == (5, 4, -(-elems * drv.datatype(name)[0] // 8))
    assert np.array_equal(drv.unpack_stream(packed, name, values.shape), values)


@pytest.mark.parametrize("name", TYPES)
@pytest.mark.parametrize("elems", [1, 5, 8, 16, 27])
def test_packing_agrees_with_finn(name, elems):
    import_finn()
    from finn.util.data_packing import finnpy_to_packed_bytearray, packed_bytearray_to_finnpy
    from qonnx.core.datatype import DataType
    rng = np.random.default_rng(100 + elems)
    values = random_values(rng, name, (3, 2, elems))
    theirs = finnpy_to_packed_bytearray(values.astype(np.float32), DataType[name], reverse_inner=True,
                                        reverse_endian=True)
    ours = drv.pack_stream(values, name)
    assert np.array_equal(ours, np.asarray(theirs))
    back = packed_bytearray_to_finnpy(np.ascontiguousarray(ours), DataType[name], values.shape,
                                      reverse_inner=True, reverse_endian=True)
    assert np.array_equal(drv.unpack_stream(ours, name, values.shape), np.asarray(back).astype(np.int64))


def test_native_port_widths_are_finns():
    import_finn()
    from finn.util.basic import pynq_native_port_width
    assert NATIVE_PORT_WIDTH == dict(pynq_native_port_width)


@pytest.mark.parametrize("which", ["tfc_build", "mlp8_build"])
def test_io_spec_matches_finn_driver_shapes(which, request):
    """Folded / packed shapes and stream widths as FINN's node methods and InsertIODMA give them."""
    build_dir = request.getfixturevalue(which)
    import_finn()
    import math

    from finn.util.basic import pynq_native_port_width
    from finn.util.data_packing import finnpy_to_packed_bytearray
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.util.basic import gen_finn_dt_tensor
    hw = build_dir / "hw"
    spec = stream_spec(onnx.load(str(hw / "dataflow.onnx")), onnx.load(str(hw / "dataflow_parent.onnx")), "Pynq-Z2")
    model = ModelWrapper(str(hw / "dataflow.onnx"))
    first, last = getCustomOp(model.graph.node[0]), getCustomOp(model.graph.node[-1])
    for side, node, folded, width in (("input", first, first.get_folded_input_shape(), first.get_instream_width_padded()),
                                      ("output", last, last.get_folded_output_shape(), last.get_outstream_width_padded())):
        io = spec[side]
        tensor = model.graph.input[0].name if side == "input" else model.graph.output[0].name
        dt = model.get_tensor_datatype(tensor)
        assert io["datatype"] == dt.name
        assert tuple(io["shape_normal"]) == tuple(model.get_tensor_shape(tensor))
        assert tuple(io["shape_folded"]) == tuple(folded)
        assert io["stream_width_padded_bits"] == width
        packed = finnpy_to_packed_bytearray(gen_finn_dt_tensor(dt, folded), dt)
        assert tuple(io["shape_packed"]) == packed.shape
        transfer = width * int(np.prod(folded[:-1]))
        assert io["dma_intf_width_bits"] == math.gcd(transfer, pynq_native_port_width["Pynq-Z2"])


@pytest.mark.parametrize("pe,simd", [(1, 1), (2, 4), (4, 16), (8, 32), (16, 64)])
def test_runtime_weight_words_match_finn_make_weight_file(tfc_build, tmp_path, pe, simd):
    """Our .dat words are FINN's MVAU.make_weight_file(w, "decoupled_runtime") words, and invert."""
    import_finn()
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp
    model = ModelWrapper(str(tfc_build / "hw" / "dataflow.onnx"))
    node = next(n for n in model.graph.node if n.op_type.startswith("MVAU") and getCustomOp(n).get_nodeattr("MH") >= pe)
    inst = getCustomOp(node)
    inst.set_nodeattr("PE", pe)
    inst.set_nodeattr("SIMD", simd)
    inst.set_nodeattr("runtime_writeable_weights", 1)
    weights = model.get_initializer(node.input[1])
    inst.make_weight_file(weights, "decoupled_runtime", str(tmp_path / "w.dat"))
    theirs = drv.read_weight_file(tmp_path / "w.dat")
    layer = next(layer for layer in runtime_layers(model.model) if layer["name"] == node.name)
    ours = runtime_words(weights, layer)
    assert np.array_equal(ours, theirs)
    assert np.array_equal(weights_from_words(ours, layer), weights)


def test_bipolar_runtime_words_round_trip(mlp8_build):
    model = onnx.load(str(mlp8_build / "hw" / "dataflow.onnx"))
    for node in model.graph.node:
        if node.op_type.startswith("MVAU"):
            node.attribute.append(onnx.helper.make_attribute("runtime_writeable_weights", 1))
    layers = runtime_layers(model)
    assert layers and any(layer["weight_datatype"] == "BIPOLAR" for layer in layers)
    rng = np.random.default_rng(0)
    for layer in layers:
        low = -1 if layer["weight_datatype"] == "BIPOLAR" else 0
        w = rng.choice([low, 1], size=(layer["MW"], layer["MH"])).astype(np.float32)
        assert np.array_equal(weights_from_words(runtime_words(w, layer), layer), w)
