"""``WidenXnorAccumulators`` on an XNOR MVAU without activation feeding FINN's ElementwiseMul (the
TensorNorm tail of a Brevitas BNN-PYNQ export), which has no ``inputDataType`` attribute."""

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.util.basic import qonnx_make_model

from bnn2hw.hw.finn_env import import_finn
from bnn2hw.hw.passes import WidenXnorAccumulators, popcount_datatype

HW = "finn.custom_op.fpgadataflow"
MW, MH = 784, 10


def _mvau_into_mul() -> ModelWrapper:
    import_finn()
    mvau = helper.make_node("MVAU", ["x", "w"], ["acc"], name="MVAU_0", domain=HW, backend="fpgadataflow",
                            MW=MW, MH=MH, SIMD=1, PE=1, inputDataType="BINARY", weightDataType="BINARY",
                            outputDataType="UINT10", accDataType="UINT10", binaryXnorMode=1, noActivation=1,
                            numInputVectors=[1])
    mul = helper.make_node("ElementwiseMul", ["acc", "scale"], ["y"], name="ElementwiseMul_0", domain=HW,
                           backend="fpgadataflow", lhs_dtype="UINT10", rhs_dtype="FLOAT32", out_dtype="FLOAT32",
                           lhs_shape=[1, MH], rhs_shape=[1], out_shape=[1, MH])
    graph = helper.make_graph([mvau, mul], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, MW])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, MH])],
                              value_info=[helper.make_tensor_value_info("acc", TensorProto.FLOAT, [1, MH])])
    model = ModelWrapper(qonnx_make_model(graph))
    model.set_initializer("w", np.random.default_rng(0).integers(0, 2, (MW, MH)).astype(np.float32))
    model.set_initializer("scale", np.array([0.5], np.float32))
    return model


def test_widening_reaches_an_elementwise_consumer():
    model = _mvau_into_mul().transform(WidenXnorAccumulators())
    wide = popcount_datatype(MW, DataType["UINT10"])
    mvau, mul = (getCustomOp(n) for n in model.graph.node)
    assert wide.bitwidth() > 10
    assert mvau.get_nodeattr("outputDataType") == wide.name
    assert mul.get_nodeattr("lhs_dtype") == wide.name
    assert mul.get_nodeattr("rhs_dtype") == "FLOAT32"
    assert model.get_tensor_datatype("acc") == wide


def test_the_hw_layer_graph_the_build_executes_holds_every_popcount(tmp_path):
    """finn-plus annotates a 64-input last layer INT7 (-64..63); its popcount reaches 64, so qonnx
    warned "can't be represented" while checking hw_layers.onnx. Widened before it is saved, no warning."""
    import json
    import warnings

    from bnn2hw.hw import build
    from bnn2hw.hw.random_net import random_model_onnx
    random_model_onnx(tmp_path / "model.onnx", "tfc", 1, (1, 8, 8), 10, seed=5)
    (tmp_path / "verify.json").write_text(json.dumps({"dataset": "digits", "label_mismatches": 0}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build(tmp_path, board="pynq-z2", fps=10_000, verify_limit=100, log=lambda _: None)
    assert not [w for w in caught if "can't be represented" in str(w.message)]
    hw_layers = ModelWrapper(str(tmp_path / "hw" / "hw_layers.onnx"))
    for node in hw_layers.get_nodes_by_op_type("MVAU"):
        op = getCustomOp(node)
        assert DataType[op.get_nodeattr("accDataType")].allowed(op.get_nodeattr("MW")), node.name
