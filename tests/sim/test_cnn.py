"""Small CNNs (conv + pool + fc, hard batchnorms from tests.netgen) built by FINN and simulated.

The simulator must agree with model.onnx with 0 mismatches and 0 flags, and its fast paths (float32
BLAS MVAU fused with thresholds, word-wise OR max pooling, word-wise depthwise windows) must give
exactly what the straightforward int64 / numpy paths give, on the streams the nodes really see.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bnn2hw.sim import Accelerator, simulate
from bnn2hw.sim.api import run_accelerator
from bnn2hw.sim.compare import compare, reference_outputs
from bnn2hw.sim.kernels.mvau import MVAU
from bnn2hw.sim.kernels.pool import Pool
from bnn2hw.sim.kernels.window import SlidingWindow, sliding_windows

CNNS = {  # name: (seed, input bits, input shape, pad_to, fps); ten classes (digits labels)
    "digits_8bit_unfolded": (41, 8, (1, 8, 8), None, 1_000_000),
    "binary_folded": (44, 1, (3, 8, 8), None, 20_000),
    "padded_8bit": (45, 8, (2, 6, 6), 8, 50_000),
}


def make_cnn_build(root: Path, seed: int, input_bits: int, in_shape, pad_to, fps: float) -> Path:
    from bnn2hw.compile import integer_network, to_qonnx
    from bnn2hw.compile.qonnx_export import save
    from bnn2hw.hw import build
    from tests.netgen import random_cnn
    model, weights = random_cnn(np.random.default_rng(seed), input_bits, in_shape, pad_to, classes=10)
    root.mkdir(parents=True, exist_ok=True)
    save(to_qonnx(integer_network(model, weights)), root / "model.onnx")
    (root / "verify.json").write_text(json.dumps({"dataset": "digits", "label_mismatches": 0}))
    build(root, board="pynq-z2", fps=fps, verify_limit=4, stop_after="estimates", log=lambda _: None)
    return root


@pytest.fixture(scope="module", params=sorted(CNNS))
def cnn_build(request, tmp_path_factory) -> tuple[Path, tuple]:
    spec = CNNS[request.param]
    return make_cnn_build(tmp_path_factory.mktemp(request.param), *spec), spec


def cnn_images(spec, count: int = 300) -> np.ndarray:
    from tests.netgen import random_images
    seed, _, in_shape, _, _ = spec
    return random_images(np.random.default_rng(seed + 1000), count, in_shape)


def test_small_cnn_matches_model_onnx(cnn_build):
    root, spec = cnn_build
    accelerator = Accelerator.load(root / "hw")
    ops = {k.node.op_type for k in accelerator.kernels}
    assert {"ConvolutionInputGenerator_rtl", "MVAU_hls", "Pool_hls", "LabelSelect_hls"} <= ops, ops
    images = cnn_images(spec)
    labels, scores, _ = run_accelerator(accelerator, images)
    check = compare(labels[:, 0], scores, *reference_outputs(root / "model.onnx", images))
    assert check["mismatches"] == 0, check
    assert sum(k.stats.flagged for k in accelerator.kernels) == 0


def test_small_cnn_simulate_on_digits(cnn_build):
    root, spec = cnn_build
    if spec[2] != (1, 8, 8):
        pytest.skip("digits are 1×8×8")
    report = simulate(root)
    assert report["images"] == 359 and report["mismatches"] == 0 and report["overflows"] == 0, report


def recorded_inputs(accelerator: Accelerator, images: np.ndarray) -> dict[str, np.ndarray]:
    """The stream every node reads, by node name (one run)."""
    seen = {}
    for kernel in accelerator.kernels:
        def recording(x, kernel=kernel, compute=kernel.compute):
            seen[kernel.node.name] = x
            return compute(x)
        kernel.compute = recording
    accelerator.run(images)
    for kernel in accelerator.kernels:
        del kernel.compute
    return seen


def test_fast_paths_equal_the_exact_paths(cnn_build):
    root, spec = cnn_build
    accelerator = Accelerator.load(root / "hw")
    inputs = recorded_inputs(accelerator, cnn_images(spec, 64))
    rng = np.random.default_rng(0)
    mvaus = [k for k in accelerator.kernels if isinstance(k, MVAU)]
    assert all(k.fast_path is not None for k in mvaus)
    for kernel in mvaus:
        x = inputs[kernel.node.name]
        hi = 1 if kernel.input_type.bits == 1 else kernel.input_type.max
        noise = rng.integers(kernel.input_type.min if kernel.input_type.bits > 1 else 0, hi + 1, x.shape).astype(x.dtype)
        for batch in (x, noise):
            assert np.array_equal(kernel.compute(batch), kernel.compute_exact(batch)), kernel.node.name
    for kernel in accelerator.kernels:
        x = inputs[kernel.node.name]
        if isinstance(kernel, Pool):  # int16 takes the general maximum, uint8 0/1 the word-wise OR
            assert np.array_equal(kernel.compute(x), kernel.compute(x.astype(np.int16)))
        if isinstance(kernel, SlidingWindow) and kernel.depthwise:
            windows = sliding_windows(x, kernel.kernel, kernel.stride, kernel.dilation)
            n, oh, ow = windows.shape[:3]
            k2 = kernel.kernel[0] * kernel.kernel[1]
            expected = windows.reshape(n, oh, ow, k2, -1, kernel.simd).transpose(0, 1, 2, 4, 3, 5).reshape(n, oh, ow, -1)
            assert np.array_equal(kernel.compute(x), expected)


def test_inputs_outside_their_type_take_the_exact_path(cnn_build):
    root, spec = cnn_build
    accelerator = Accelerator.load(root / "hw")
    inputs = recorded_inputs(accelerator, cnn_images(spec, 8))
    xnor = next(k for k in accelerator.kernels if isinstance(k, MVAU) and k.xnor)
    x = inputs[xnor.node.name].copy()
    x.flat[::7] = 2  # not a bit: packed as 1 by the exact path, counted as a misfit
    assert not xnor.fast_path.accepts(x.reshape(-1, xnor.mw))
    assert np.array_equal(xnor.execute(x), xnor.compute_exact(x))
    assert xnor.stats.input_misfits == x.size // 7 + (x.size % 7 > 0)
