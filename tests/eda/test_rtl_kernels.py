"""Property tests of bnn2hw's RTL layers, one node at a time, against the ``bnn2hw.sim`` kernel.

Each case builds a one-node dataflow graph in-process (random MW, MH, PE, SIMD including SIMD=1,
SIMD=MW and PE=MH; random ±1 weights; random thresholds that tie with the accumulator, lie
outside its range (constant channels) or are shared), lets FINN's code generation call the op's
``generate_hdl``, and runs it in Verilator with random stalls: the output words must equal the
simulator's bit for bit, and without stalls the measured cycles per frame must equal the
kernel's expected cycles within 2% plus the pipeline depth.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from bnn2hw.eda.rtl_layers import rtl_layers
from tests.eda.conftest import build_modules, requires_verilator

pytestmark = requires_verilator
RTL = "finn.custom_op.fpgadataflow.rtl"
PIPELINE_DEPTH = 4


def one_node_build(root, op_type: str, attrs: dict, in_shape, out_shape, initializers: dict, dtypes: dict):
    """A build directory whose ``hw/`` holds a one-node dataflow graph and its exported RTL."""
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.util.basic import qonnx_make_model

    from bnn2hw.hw.finn_env import import_finn
    from bnn2hw.hw.rtl.export import export_rtl
    from bnn2hw.hw.rtl.ops import register
    import_finn()
    register()
    inputs = ["x"] + list(initializers)
    node = helper.make_node(op_type, inputs, ["y"], domain=RTL, name=f"{op_type}_0", backend="fpgadataflow", **attrs)
    graph = helper.make_graph([node], "one", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)])
    model = ModelWrapper(qonnx_make_model(graph))
    for name, value in initializers.items():
        model.set_initializer(name, value.astype(np.float32))
    for name, dtype in dtypes.items():
        model.set_tensor_datatype(name, DataType[dtype])
    hw_dir = root / "hw"
    op = getCustomOp(model.graph.node[0])
    op.set_nodeattr("code_gen_dir_ipgen", str(root / "codegen"))
    op.generate_hdl(model, "xc7z020clg400-1", 10.0)
    hw_dir.mkdir(parents=True, exist_ok=True)
    export_rtl(model, hw_dir)
    model.save(str(hw_dir / "dataflow.onnx"))
    return root


def mvau_case(rng, mw, mh, pe, simd, xnor=True, no_act=False, steps=1, runtime=False):
    weights = rng.choice([-1, 1], size=(mw, mh)) if not xnor else rng.integers(0, 2, (mw, mh))
    attrs = dict(MW=mw, MH=mh, PE=pe, SIMD=simd, binaryXnorMode=int(xnor), noActivation=int(no_act),
                 numInputVectors=[1], mem_mode="internal_decoupled", runtime_writeable_weights=int(runtime),
                 ActVal=0, inputDataType="BINARY" if xnor else "UINT8",
                 weightDataType="BINARY" if xnor else "BIPOLAR")
    top = mw if xnor else 255 * mw
    acc_bits = (2 * top).bit_length() + 1
    attrs["accDataType"] = f"INT{acc_bits}"
    init, dtypes = {"w": weights}, {"w": attrs["weightDataType"], "x": attrs["inputDataType"]}
    if no_act:
        attrs["outputDataType"] = f"INT{acc_bits}"
    else:
        low, high = (0, mw + 2) if xnor else (-top - 2, top + 2)  # FINN: XNOR thresholds are >= 0
        thresholds = np.sort(rng.integers(low, high, (mh, steps)), axis=1)
        thresholds[0] = low  # a constant channel: every value passes (and MW+1 above: none does)
        init["t"] = thresholds
        dtypes["t"] = f"INT{acc_bits}"
        attrs["outputDataType"] = "BINARY" if steps == 1 else f"UINT{steps.bit_length()}"
    dtypes["y"] = attrs["outputDataType"]
    return attrs, init, dtypes


MVAU_CASES = {  # name: (MW, MH, PE, SIMD, options)
    "xnor_folded": (24, 12, 3, 4, {}),
    "xnor_simd1": (9, 4, 1, 1, {}),
    "xnor_simd_mw_pe_mh": (40, 6, 6, 40, {}),
    "xnor_no_activation": (36, 10, 2, 6, {"no_act": True}),
    "xnor_runtime_weights": (70, 8, 2, 35, {"runtime": True}),
    "integer_input": (12, 8, 4, 3, {"xnor": False}),
    "integer_multi_threshold": (8, 6, 2, 2, {"xnor": False, "steps": 3}),
}


@pytest.mark.parametrize("case", sorted(MVAU_CASES))
def test_mvau_matches_the_simulator(case, tmp_path):
    mw, mh, pe, simd, options = MVAU_CASES[case]
    rng = np.random.default_rng(sum(map(ord, case)))
    attrs, init, dtypes = mvau_case(rng, mw, mh, pe, simd, **options)
    root = one_node_build(tmp_path, "MVAUBinary_rtl", attrs, [1, mw], [1, mh], init, dtypes)
    high = 2 if options.get("xnor", True) else 256
    images = rng.integers(0, high, (150, mw)).astype(np.uint8)
    stalled = rtl_layers(root, images, stall=0.3, seed=3, log=lambda _: None)
    result = stalled["nodes"]["MVAUBinary_rtl_0"]
    assert result["mismatched_images"] == 0, result
    assert {"bnn2hw_mvau", "bnn2hw_pipe", "bnn2hw_out_fifo"} <= build_modules(root)  # the modules this checked
    steady = rtl_layers(root, images, stall=0.0, log=lambda _: None)["nodes"]["MVAUBinary_rtl_0"]
    assert steady["mismatched_images"] == 0
    assert abs(steady["cycles_per_frame"] - steady["expected_cycles"]) <= 0.02 * steady["expected_cycles"] + PIPELINE_DEPTH


@pytest.mark.parametrize("pe,channels,window", [(1, 3, 4), (4, 8, 9)])
def test_max_pool_matches_the_simulator(pe, channels, window, tmp_path):
    rng = np.random.default_rng(pe)
    out_dims = [2, 2]
    attrs = dict(Channels=channels, PE=pe, KernelSize=[window], Function="MaxPool", OutImgDims=out_dims,
                 InputDataType="BINARY", OutputDataType="BINARY", BatchSize=1)
    root = one_node_build(tmp_path, "Pool_rtl", attrs, [1, *out_dims, window * channels], [1, *out_dims, channels],
                          {}, {"x": "BINARY", "y": "BINARY"})
    # mostly-zero windows, so the OR is not always 1
    windows = (rng.random((120, *out_dims, window * channels)) < 0.15).astype(np.uint8)
    images = windows.transpose(0, 3, 1, 2)  # the simulator takes NCHW images and makes them NHWC
    for stall in (0.3, 0.0):
        r = rtl_layers(root, images, stall=stall, log=lambda _: None)["nodes"]["Pool_rtl_0"]
        assert r["mismatched_images"] == 0, r
    assert abs(r["cycles_per_frame"] - r["expected_cycles"]) <= 0.02 * r["expected_cycles"] + PIPELINE_DEPTH
    assert {"bnn2hw_pool", "bnn2hw_out_fifo"} <= build_modules(root)


@pytest.mark.parametrize("pe,dtype", [(1, "INT8"), (5, "INT4"), (2, "UINT3")])
def test_label_select_matches_the_simulator_with_ties(pe, dtype, tmp_path):
    from qonnx.core.datatype import DataType
    rng = np.random.default_rng(pe)
    labels = 10
    attrs = dict(Labels=labels, PE=pe, K=1, inputDataType=dtype, outputDataType="UINT8", numInputVectors=[1])
    root = one_node_build(tmp_path, "LabelSelect_rtl", attrs, [1, labels], [1, 1], {}, {"x": dtype, "y": "UINT8"})
    dt = DataType[dtype]
    scores = rng.integers(int(dt.min()), int(dt.max()) + 1, (200, labels))
    scores[:20] = int(dt.min())          # all tied at the floor: label 0
    scores[20:40, 3] = scores[20:40, 7] = int(dt.max())  # a tie at the top: the lower index wins
    r = rtl_layers(root, scores.astype(np.int64), stall=0.3, log=lambda _: None)["nodes"]["LabelSelect_rtl_0"]
    assert r["mismatched_images"] == 0, r
    assert {"bnn2hw_label_select", "bnn2hw_pipe", "bnn2hw_out_fifo"} <= build_modules(root)


def divisor_of(rng, n: int) -> int:
    return int(rng.choice([d for d in range(1, n + 1) if n % d == 0]))


@pytest.mark.parametrize("seed", [101, 202, 303])
def test_mvau_random_shapes(seed, tmp_path):
    """Shapes and foldings drawn at random (seeded): MW, MH in 1..48, PE | MH, SIMD | MW, either mode."""
    rng = np.random.default_rng(seed)
    mw, mh = int(rng.integers(1, 49)), int(rng.integers(1, 49))
    pe, simd, xnor = divisor_of(rng, mh), divisor_of(rng, mw), bool(rng.integers(0, 2))
    attrs, init, dtypes = mvau_case(rng, mw, mh, pe, simd, xnor=xnor, steps=1 if xnor else int(rng.integers(1, 4)))
    root = one_node_build(tmp_path, "MVAUBinary_rtl", attrs, [1, mw], [1, mh], init, dtypes)
    images = rng.integers(0, 2 if xnor else 256, (100, mw)).astype(np.uint8)
    result = rtl_layers(root, images, stall=0.25, seed=seed, log=lambda _: None)["nodes"]["MVAUBinary_rtl_0"]
    assert result["mismatched_images"] == 0, (mw, mh, pe, simd, xnor, result)
