"""Property tests: random tiny binary MLPs and CNNs (γ<0, γ=0, exact ties, 1- and 8-bit input)
compile to QONNX graphs whose execution equals the integer reference exactly; the integer
reference agrees with the torch float forward."""

import numpy as np
import pytest
import torch
from tests.netgen import random_cnn, random_images, random_mlp

from bnn2hw.compile import integer_forward, integer_network, run_qonnx, to_qonnx
from bnn2hw.compile.api import float_labels
from bnn2hw.train.method_base import use_weights
from bnn2hw.compile.integer_net import ArgMax, Threshold
from bnn2hw.compile.reference import _apply

CASES = 120


def _boundary_hits(net, images) -> int:
    """How many activations had their accumulator exactly on the threshold (acc == T)."""
    x, hits = images.astype(np.int64), 0
    for op in net.ops:
        if isinstance(op, Threshold):
            shape = (1, -1) + (1,) * (x.ndim - 2)
            signed = np.where(op.flip.reshape(shape), -x, x)
            hits += int((signed == op.threshold.reshape(shape)).sum())
        if not isinstance(op, ArgMax):
            x = _apply(op, x)
    return hits


def _check(model, weights, images):
    net = integer_network(model, weights)
    ref_labels, ref_scores = integer_forward(net, images)
    labels, scores = run_qonnx(to_qonnx(net), images)
    assert np.array_equal(labels, ref_labels)
    assert np.array_equal(scores, ref_scores)
    return net, ref_labels, ref_scores


@pytest.mark.parametrize("input_bits", [1, 8])
def test_random_mlps_qonnx_equals_reference(input_bits):
    rng = np.random.default_rng(100 + input_bits)
    flips = hits = 0
    for _ in range(CASES):
        model, weights = random_mlp(rng, input_bits)
        images = random_images(rng, 16, model.config.in_shape)
        net, _, _ = _check(model, weights, images)
        flips += sum(int(op.flip.sum()) for op in net.ops if isinstance(op, Threshold))
        hits += _boundary_hits(net, images)
    assert flips > 0 and hits > 100  # γ < 0 channels and exact boundaries were exercised


@pytest.mark.parametrize("input_bits,pad_to", [(1, 8), (1, None), (8, 8)])
def test_random_cnns_qonnx_equals_reference(input_bits, pad_to):
    rng = np.random.default_rng(200 + input_bits + (pad_to or 0))
    shape = (2, 6, 6) if pad_to else (2, 8, 8)
    hits = 0
    for _ in range(CASES // 4):
        model, weights = random_cnn(rng, input_bits, shape, pad_to)
        images = random_images(rng, 8, shape)
        hits += _boundary_hits(_check(model, weights, images)[0], images)
    assert hits > 20


@pytest.mark.parametrize("maker", [random_mlp, random_cnn])
def test_integer_reference_matches_torch_float(maker):
    """Scores equal torch's (scaled back) wherever torch's margin is clear, labels everywhere
    but at near-ties of float32 maths; the tie channels are built to be exact in float32."""
    rng = np.random.default_rng(7)
    disagreements, total = 0, 0
    for _ in range(40):
        model, weights = maker(rng)
        images = random_images(rng, 16, model.config.in_shape)
        net = integer_network(model, weights)
        labels, scores = integer_forward(net, images)
        with use_weights(model, weights), torch.no_grad():
            out = model(torch.from_numpy(images)).double().numpy() / model.layers[-1].log_scale.exp().item()
        assert np.array_equal(np.rint(out).astype(np.int64), scores)
        disagreements += int((float_labels(model, weights, images) != labels).sum())
        total += len(images)
    assert disagreements == 0, f"{disagreements}/{total}"
