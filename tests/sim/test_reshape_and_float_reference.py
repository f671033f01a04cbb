"""FINN's HW ``Reshape`` in the simulator (an imported Brevitas FC model's ``x.view(N, -1)``), and
the comparison with a reference whose scores are floats (an imported model's TensorNorm tail)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from bnn2hw.sim.accelerator import Accelerator
from bnn2hw.sim.compare import compare, reference_engine
from bnn2hw.sim.datatypes import SimError
from bnn2hw.sim.graph import GraphView
from bnn2hw.sim.kernels import make_kernel

HW = "finn.custom_op.fpgadataflow"


def _reshape_graph(inp, out, pe) -> onnx.ModelProto:
    node = helper.make_node("Reshape_rtl", ["x"], ["y"], name="Reshape_rtl_0", domain=HW, backend="fpgadataflow",
                            inp_shape=inp, out_shape=out, dtype="UINT8", PE=pe)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, inp)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out)])
    return helper.make_model(graph)


@pytest.mark.parametrize("pe", [1, 4])
def test_reshape_passes_the_element_sequence_through(pe):
    graph = GraphView(_reshape_graph([1, 1, 28, 28], [1, 784], pe))
    kernel = make_kernel(graph.nodes()[0])
    images = np.random.default_rng(pe).integers(0, 256, (5, 1, 28, 28), dtype=np.uint8)
    out = Accelerator(graph, None).run_stream(images.reshape(5, 1, 28, 28))["y"]
    assert np.array_equal(out, images.reshape(5, 784))
    assert kernel.in_word_elems() == pe and kernel.exp_cycles() == 784 // pe
    assert kernel.stats.input_misfits == 0


def test_reshape_refuses_a_pe_that_does_not_divide():
    with pytest.raises(SimError, match="PE 3 does not divide"):
        make_kernel(GraphView(_reshape_graph([1, 1, 28, 28], [1, 784], 3)).nodes()[0])


def test_float_reference_scores_compare_labels_only():
    sim_scores = np.array([[3, -1], [0, 2]], np.int64)
    ref_labels = np.array([0, 1])
    float_scores = np.array([[0.75, -0.25], [0.0, 0.5]])
    report = compare(np.array([0, 0]), sim_scores, ref_labels, float_scores)
    assert report["scores_compared"] is False and report["label_mismatches"] == 1
    assert report["mismatched_images"] == [1]
    integer = compare(np.array([0, 1]), sim_scores, ref_labels, sim_scores + np.array([[0, 0], [0, 1]]))
    assert integer["scores_compared"] and integer["score_mismatches"] == 1 and integer["mismatches"] == 1


def test_reference_engine_falls_back_to_qonnx_for_graphs_numpy_cannot_run(tmp_path):
    node = helper.make_node("Div", ["x", "c"], ["y"], name="Div_0")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor("c", TensorProto.FLOAT, [1], [255.0])])
    onnx.save(helper.make_model(graph), str(tmp_path / "model.onnx"))
    engine, described = reference_engine(tmp_path / "model.onnx")
    assert engine == "qonnx" and "Div 'Div_0'" in described
    assert reference_engine(tmp_path / "model.onnx", "qonnx") == ("qonnx", "model.onnx (qonnx)")
