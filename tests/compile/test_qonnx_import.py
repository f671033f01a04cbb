"""The import of a QONNX export (``bnn2hw.compile.qonnx_import``): input convention, the w1a1 check,
and ``run_qonnx`` on graphs whose scores before TopK are floats (labels are still integers)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.basic import qonnx_make_model

from bnn2hw.compile import CompileError, run_qonnx
from bnn2hw.compile.qonnx_import import check_w1a1, input_convention, normalise, parse_input_scale
from tests.brevitas_exports import bnn_pynq_model, export


def _scaled_net(first: str | None = None, first_constant: float = 255.0, out_scale: float = 0.37) -> ModelWrapper:
    """x (1, 1, 2, 2) -> [first op] -> Flatten -> MatMul(±1) -> Mul(out_scale) -> scores (1, 3)."""
    rng = np.random.default_rng(0)
    nodes, current = [], "x"
    if first:
        nodes.append(helper.make_node(first, ["x", "c"], ["x_scaled"], name="pre"))
        current = "x_scaled"
    nodes += [helper.make_node("Flatten", [current], ["flat"], axis=1, name="flatten"),
              helper.make_node("MatMul", ["flat", "w"], ["acc"], name="matmul"),
              helper.make_node("Mul", ["acc", "s"], ["scores"], name="scale")]
    inits = [helper.make_tensor("w", TensorProto.FLOAT, [4, 3], (2.0 * rng.integers(0, 2, 12) - 1).tolist()),
             helper.make_tensor("s", TensorProto.FLOAT, [1], [out_scale]),
             helper.make_tensor("c", TensorProto.FLOAT, [1], [first_constant])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])],
                              [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 3])], inits)
    return ModelWrapper(qonnx_make_model(graph))


def test_input_scale_parsing():
    assert parse_input_scale("1/255") == Fraction(1, 255)
    assert parse_input_scale("1") == 1 and parse_input_scale(None) is None
    for bad in ("0", "-1/255", "x", "1/0"):
        with pytest.raises(CompileError, match="--input-scale"):
            parse_input_scale(bad)


def test_float_input_needs_input_scale_and_gets_a_division(tmp_path):
    with pytest.raises(CompileError, match="give --input-scale 1/255"):
        input_convention(_scaled_net(), tmp_path / "f.onnx", None)
    model = _scaled_net()
    recorded = input_convention(model, tmp_path / "f.onnx", Fraction(1, 255))
    assert recorded["input_scale"] == "1/255"
    first = model.graph.node[0]
    assert first.op_type == "Div" and float(model.get_initializer(first.input[1])) == 255.0
    assert model.get_tensor_datatype("x") == DataType["UINT8"]


def test_merged_to_tensor_or_uint8_input_needs_no_scale(tmp_path):
    merged = _scaled_net("Div")
    assert input_convention(merged, tmp_path / "m.onnx", None)["input_scale"] is None
    with pytest.raises(CompileError, match="drop --input-scale"):
        input_convention(_scaled_net("Div"), tmp_path / "m.onnx", Fraction(1, 255))
    other = _scaled_net("Div", first_constant=2.0)  # not ToTensor: the convention is still unknown
    with pytest.raises(CompileError, match="--input-scale"):
        input_convention(other, tmp_path / "o.onnx", None)


def test_run_qonnx_gives_labels_and_float_scores():
    model, _ = normalise(_scaled_net(), Path("f.onnx"), Fraction(1))
    images = np.random.default_rng(1).integers(0, 256, (20, 1, 2, 2), dtype=np.uint8)
    labels, scores = run_qonnx(model, images)
    weights = model.get_initializer(model.get_nodes_by_op_type("MatMul")[0].input[1])
    acc = images.reshape(20, 4).astype(np.int64) @ weights.astype(np.int64)
    assert scores.dtype == np.float64 and labels.dtype == np.int64
    assert np.array_equal(labels, np.argmax(acc, axis=1))
    assert np.array_equal(scores, (acc.astype(np.float32) * np.float32(0.37)).astype(np.float64))


@pytest.mark.parametrize("name,needle", [("tfc_2w2a", "2-bit weights"), ("tfc_1w2a", "2-bit outputs")])
def test_non_w1a1_brevitas_models_are_refused(name, needle, tmp_path):
    from qonnx.util.cleanup import cleanup_model
    path = export(bnn_pynq_model(name), tmp_path / f"{name}.onnx", "plain", (1, 28, 28))
    with pytest.raises(CompileError, match=needle):
        check_w1a1(cleanup_model(ModelWrapper(str(path))), path)


def test_a_flat_mlp_export_takes_images_that_flatten_to_its_input(tmp_path):
    from bnn2hw.compile.qonnx_import import import_qonnx
    path = export(bnn_pynq_model("TFC_1W1A", seed=3), tmp_path / "flat.onnx", "plain", (784,))
    images = np.random.default_rng(1).integers(0, 256, size=(48, 1, 28, 28), dtype=np.uint8)
    report = import_qonnx(path, tmp_path / "build", "1/255", images, dataset="fashion-mnist")
    assert report["label_mismatches"] == 0 and report["value_mismatches"] == 0 and report["flat_input"]
    model = ModelWrapper(str(tmp_path / "build" / "model.onnx"))
    assert model.get_tensor_shape(model.graph.input[0].name) == [1, 1, 28, 28]
    for images, needle in ((None, "no data set"), (images[:, :, :8, :8], r"images of shape \(1, 8, 8\)")):
        with pytest.raises(CompileError, match=f"flat \\(1, 784\\) and {needle}.*--dataset"):
            import_qonnx(path, tmp_path / "refused", "1/255", images)
