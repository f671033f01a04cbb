"""model.onnx is accepted unchanged by qonnx cleanup and FINN (ConvertQONNXtoFINN, streamlining,
convert_to_hw): every node becomes a FINN HW layer except layout ops on the graph input, and
FINN's execution agrees with the reference. Brevitas + FINN's own folding agree with bnn2hw."""

import numpy as np
import pytest
from tests.netgen import random_cnn, random_images, random_mlp
from qonnx.util.cleanup import cleanup_model

from bnn2hw.compile import integer_forward, integer_network, run_qonnx, to_qonnx
from bnn2hw.compile.api import load_run, run_weights
from bnn2hw.hw.brevitas_check import brevitas_cross_check
from bnn2hw.hw.finn_passes import (
    finn_convert_to_hw, finn_execute, finn_frontend, finn_streamline, non_hw_nodes,
)
from bnn2hw.data import load_dataset

# Host-side layout ops left on the graph input (FINN's own BNN-PYNQ flows leave them too).
INPUT_LEFTOVERS = {"mlp": ["Flatten"], "cnn_pad": ["Pad", "Transpose"], "cnn": ["Transpose"]}


def _finn_labels(model, images):
    name_in, name_out = model.graph.input[0].name, model.graph.output[0].name
    return np.array([int(np.asarray(finn_execute(model, {name_in: images[i:i + 1].astype(np.float32)})[name_out])
                         .flatten()[0]) for i in range(len(images))])


@pytest.mark.parametrize("kind,input_bits", [("mlp", 1), ("mlp", 8), ("cnn_pad", 1), ("cnn", 1), ("cnn_pad", 8)])
def test_finn_accepts_model_onnx_unchanged(kind, input_bits):
    rng = np.random.default_rng(11)
    if kind == "mlp":
        model, weights = random_mlp(rng, input_bits, in_shape=(1, 5, 5))
    else:
        shape = (2, 6, 6) if kind == "cnn_pad" else (2, 8, 8)
        model, weights = random_cnn(rng, input_bits, shape, 8 if kind == "cnn_pad" else None)
    net = integer_network(model, weights)
    qonnx_model = to_qonnx(net)
    images = random_images(rng, 6, model.config.in_shape)
    ref_labels, _ = integer_forward(net, images)
    assert np.array_equal(run_qonnx(cleanup_model(qonnx_model), images)[0], ref_labels)
    streamlined = finn_streamline(finn_frontend(qonnx_model))
    hw = finn_convert_to_hw(streamlined)
    leftovers = non_hw_nodes(hw)
    assert leftovers == INPUT_LEFTOVERS[kind]
    assert [n.op_type for n in hw.graph.node[:len(leftovers)]] == leftovers  # all on the input side
    assert hw.graph.node[-1].op_type == "LabelSelect"
    assert np.array_equal(_finn_labels(streamlined, images), ref_labels)
    assert np.array_equal(_finn_labels(hw, images), ref_labels)


def test_brevitas_cross_check_on_trained_tfc(tfc_digits_run):
    ckpt, model = load_run(tfc_digits_run)
    weights = run_weights(ckpt, model)
    net = integer_network(model, weights)
    report = brevitas_cross_check(model, weights, net, to_qonnx(net), load_dataset("digits").x_test)
    assert report["images"] == 359 and report["label_mismatches"] == 0
    assert report["thresholds_checked"] and report["threshold_differences"] == []


@pytest.mark.parametrize("maker", [random_mlp, random_cnn])
def test_brevitas_cross_check_on_random_networks_with_ties(maker):
    rng = np.random.default_rng(5)
    model, weights = maker(rng, zero_gamma=False)
    net = integer_network(model, weights)
    report = brevitas_cross_check(model, weights, net, to_qonnx(net), random_images(rng, 16, model.config.in_shape))
    assert report["label_mismatches"] == 0 and report["threshold_differences"] == []


def test_brevitas_cross_check_skips_zero_gamma():
    model, weights = random_mlp(np.random.default_rng(0))
    model.layers[3].weight.data[0] = 0.0
    net = integer_network(model, weights)
    report = brevitas_cross_check(model, weights, net, to_qonnx(net), random_images(np.random.default_rng(0), 4, (1, 4, 4)))
    assert "γ = 0" in report["skipped"]
