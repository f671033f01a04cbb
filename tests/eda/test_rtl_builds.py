"""Whole ``--impl rtl`` builds, every RTL node in Verilator against ``bnn2hw.sim``, word for word.

TFC on digits with 1-bit and 8-bit input (the whole test split, with and without random stalls,
runtime weights loaded over AXI-lite), SFC on Fashion-MNIST (200 images) and small random CNNs
(padding, sliding windows, max-pooling, the integer first layer); measured cycles per frame
without stalls equal the kernel's expected cycles within 2% plus the pipeline depth.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bnn2hw.eda.rtl_layers import REPORT_FILE, rtl_layers
from tests.eda.conftest import digits_test_images, requires_verilator, rtl_build

pytestmark = requires_verilator
PIPELINE_DEPTH = 4  # cycles a layer may add per frame at the stream's ends


def assert_all_agree(report: dict) -> None:
    bad = {name: r for name, r in report["nodes"].items() if r["mismatched_images"]}
    assert not bad, f"RTL nodes disagree with bnn2hw.sim: {bad}"
    assert report["passed"]


def assert_cycles_match(report: dict) -> None:
    for name, r in report["nodes"].items():
        if r["op_type"].startswith(("ConvolutionInputGenerator", "FMPadding")):
            continue  # finn-rtllib's: FINN's estimate is approximate; checked for values only
        allowed = 0.02 * r["expected_cycles"] + PIPELINE_DEPTH
        assert abs(r["cycles_per_frame"] - r["expected_cycles"]) <= allowed, (name, r)


def test_tfc_rtl_whole_digits_split_with_and_without_stalls(tfc_rtl):
    images = digits_test_images()
    steady = rtl_layers(tfc_rtl, images, stall=0.0, log=lambda _: None)
    assert_all_agree(steady)
    assert_cycles_match(steady)
    assert {r["op_type"] for r in steady["nodes"].values()} == {"Thresholding_rtl", "MVAUBinary_rtl", "LabelSelect_rtl"}
    stalled = rtl_layers(tfc_rtl, images, stall=0.3, seed=5, log=lambda _: None)
    assert_all_agree(stalled)
    assert stalled["images"] == len(images) == 359
    saved = json.loads((tfc_rtl / REPORT_FILE).read_text())
    assert saved["stall"] == 0.3 and all(r["images"] == 359 for r in saved["nodes"].values())


def test_tfc_8bit_input_integer_mvau(tfc8_rtl):
    report = rtl_layers(tfc8_rtl, digits_test_images(), stall=0.2, log=lambda _: None)
    assert_all_agree(report)
    dataflow = (tfc8_rtl / "hw" / "rtl" / "manifest.json").read_text()
    assert "MVAUBinary_rtl_0" in dataflow and "Thresholding" not in dataflow.split("MVAUBinary_rtl_0")[0]


def test_sfc_fashion_mnist(tmp_path):
    from bnn2hw.data import DatasetError, load_dataset
    try:
        images = load_dataset("fashion-mnist").x_test[:200]
    except DatasetError as err:
        pytest.skip(f"Fashion-MNIST not available: {err}")
    root = rtl_build(tmp_path, "sfc", 1, (1, 28, 28), "fashion-mnist", 50_000, seed=23)
    report = rtl_layers(root, images, stall=0.1, log=lambda _: None)
    assert_all_agree(report)
    assert report["images"] == 200


def test_random_cnn(tmp_path):
    """Padding, sliding windows, the integer first layer, max-pooling (the stitched test takes a binary CNN)."""
    from bnn2hw.compile import integer_network, to_qonnx
    from bnn2hw.compile.qonnx_export import save
    from bnn2hw.hw import build
    from tests.netgen import random_cnn, random_images
    seed, bits, shape, pad, fps = 45, 8, (2, 6, 6), 8, 50_000
    model, weights = random_cnn(np.random.default_rng(seed), bits, shape, pad, classes=10)
    save(to_qonnx(integer_network(model, weights)), tmp_path / "model.onnx")
    (tmp_path / "verify.json").write_text(json.dumps({"dataset": "digits", "label_mismatches": 0}))
    build(tmp_path, board="pynq-z2", fps=fps, verify_limit=4, impl="rtl", log=lambda _: None)
    images = random_images(np.random.default_rng(seed + 1000), 200, shape)
    report = rtl_layers(tmp_path, images, stall=0.25, log=lambda _: None)
    assert_all_agree(report)
    ops = {r["op_type"] for r in report["nodes"].values()}
    assert {"ConvolutionInputGenerator_rtl", "Pool_rtl", "MVAUBinary_rtl", "LabelSelect_rtl"} <= ops


def test_negative_controls_flipped_weight_bit_and_threshold_off_by_one(tfc8_rtl, tmp_path):
    import shutil
    from bnn2hw.sim.accelerator import Accelerator
    images = digits_test_images(120)
    for edit in ("weight", "threshold"):
        copy = tmp_path / edit
        shutil.copytree(tfc8_rtl, copy)
        node = "MVAUBinary_rtl_1"
        if edit == "weight":
            path = copy / "hw" / "rtl" / node / f"{node}_weights.dat"
            lines = path.read_text().split()
            lines[0] = f"{int(lines[0], 16) ^ 1:0{len(lines[0])}x}"
        else:
            acc = Accelerator.load(copy / "hw")
            kernel = next(k for k in acc.kernels if k.node.name == node)
            x = acc.node_streams(images)[kernel.node.inputs[0]].reshape(-1, kernel.mw)
            hits = kernel.accumulate(x) == kernel.thresholds[:, 0]                 # an image exactly at T
            channel = int(np.flatnonzero(hits.any(axis=0))[0])
            path = copy / "hw" / "rtl" / node / f"{node}_thresholds.dat"
            lines = path.read_text().split()
            pe = kernel.pe
            nf, lane = divmod(channel, pe)
            bits = len(lines[nf]) * 4 // pe
            value = int(lines[nf], 16) + (1 << (lane * bits))
            lines[nf] = f"{value:0{len(lines[nf])}x}"
        path.write_text("\n".join(lines) + "\n")
        report = rtl_layers(copy, images, log=lambda _: None)
        assert report["nodes"][node]["mismatched_images"] > 0, edit
        assert not report["passed"]
        others = [r for name, r in report["nodes"].items() if name != node]
        assert all(r["mismatched_images"] == 0 for r in others)


@pytest.mark.slow
def test_random_cnv_topology(tmp_path):
    """The BNN-PYNQ CNV (3×32×32, six convolutions, two max-pools, three dense layers), random
    weights, folded to 2,000 img/s: every RTL node on 200 images with stalls."""
    root = rtl_build(tmp_path, "cnv", 1, (3, 32, 32), None, 2_000, seed=3)
    images = np.random.default_rng(0).integers(0, 256, (200, 3, 32, 32), dtype=np.uint8)
    report = rtl_layers(root, images, stall=0.1, log=lambda _: None)
    assert_all_agree(report)
    ops = [r["op_type"] for r in report["nodes"].values()]
    assert ops.count("Pool_rtl") == 2 and ops.count("MVAUBinary_rtl") == 9
