"""Bring your own model: Brevitas BNN-PYNQ w1a1 exports through build, simulate and deploy.

The models are ``brevitas_examples.bnn_pynq``'s TFC and CNV (``tests/brevitas_exports.py``), built
in-process and exported with ``export_qonnx`` as a user would (plain, qonnx-cleaned, or with the
FINN notebook's ToTensor and TopK). Every check ends with the labels of the simulated accelerator
against the Brevitas torch model's own predictions on the same uint8 images / 255: 0 mismatches.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bnn2hw.cli import main
from bnn2hw.data import load_dataset
from bnn2hw.sim import Accelerator
from tests.brevitas_exports import bnn_pynq_model, export, torch_labels, train_steps
from tests.deploy.test_driver import run_driver

TFC_IMAGES = 1000   # Fashion-MNIST test images every TFC check covers
CNV_IMAGES = 100    # random images for CNV (its FINN Python check is slow: few images there)
TRAIN_STEPS = 200


@pytest.fixture(scope="module")
def fashion():
    return load_dataset("fashion-mnist")


@pytest.fixture(scope="module")
def trained_tfc(fashion):
    return train_steps(bnn_pynq_model("tfc_1w1a", seed=3), fashion.x_train, fashion.y_train, TRAIN_STEPS)


def _cli(*argv) -> int:
    return main([str(a) for a in argv])


def _agrees_with_torch(build, model, images) -> None:
    labels = Accelerator.load(build / "hw").run(images).labels[:, 0]
    expected = torch_labels(model, images)
    assert len(np.unique(expected)) > 1  # a constant network would agree by accident
    assert np.array_equal(labels, expected), f"{int((labels != expected).sum())} of {len(images)} differ"


def _build_simulate_deploy(tmp_path, source, fashion, *options) -> tuple:
    build, package = tmp_path / "build", tmp_path / "package"
    assert _cli("build", build, "--model", source, "--dataset", "fashion-mnist", "--verify-limit", 200,
                "--fps", 100_000, *options) == 0
    assert _cli("simulate", build, "--limit", TFC_IMAGES) == 0
    sim = json.loads((build / "sim.json").read_text())
    assert sim["images"] == TFC_IMAGES and sim["label_mismatches"] == 0 and sim["overflows"] == 0
    assert sim["accuracy"] == float(np.mean(Accelerator.load(build / "hw").run(
        fashion.x_test[:TFC_IMAGES]).labels[:, 0] == fashion.y_test[:TFC_IMAGES]))
    assert _cli("deploy", build, "--out", package, "--test-limit", TFC_IMAGES) == 0
    result = run_driver(package, "--validate", "--backend", "sim", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["mismatches_with_simulator"] == 0
    return build, sim


def test_trained_tfc_plain_export_with_input_scale(trained_tfc, fashion, tmp_path):
    source = export(trained_tfc, tmp_path / "tfc.onnx", "plain", (1, 28, 28))
    build, sim = _build_simulate_deploy(tmp_path, source, fashion, "--input-scale", "1/255")
    assert "qonnx" in sim["reference"] and sim["scores_compared"] is False  # TensorNorm: float scores
    assert json.loads((build / "import.json").read_text())["input_scale"] == "1/255"
    assert sim["accuracy"] > 0.5
    _agrees_with_torch(build, trained_tfc, fashion.x_test[:TFC_IMAGES])


def test_random_tfc_notebook_export_negative_tensor_norm(fashion, tmp_path):
    model = bnn_pynq_model("tfc_1w1a", seed=1, tensor_norm_sign=-1.0)
    source = export(model, tmp_path / "tfc.onnx", "notebook", (1, 28, 28))
    build, _ = _build_simulate_deploy(tmp_path, source, fashion)
    assert json.loads((build / "import.json").read_text())["input_scale"] is None  # ToTensor merged in
    _agrees_with_torch(build, model, fashion.x_test[:TFC_IMAGES])


def test_tfc_without_tensor_norm_compares_integer_scores(fashion, tmp_path):
    model = bnn_pynq_model("tfc_1w1a", seed=4)
    del model.features[-1]  # the TensorNorm tail: the scores entering TopK are the last layer's integers
    source = export(model, tmp_path / "tfc.onnx", "cleaned", (1, 28, 28))
    _, sim = _build_simulate_deploy(tmp_path, source, fashion, "--input-scale", "1/255")
    assert sim["scores_compared"] is True and sim["score_mismatches"] == 0


@pytest.mark.slow
def test_trained_tfc_cleaned_export_rtl(trained_tfc, fashion, tmp_path):
    source = export(trained_tfc, tmp_path / "tfc.onnx", "cleaned", (1, 28, 28))
    build, _ = _build_simulate_deploy(tmp_path, source, fashion, "--input-scale", "1/255", "--impl", "rtl")
    assert (build / "hw" / "rtl").is_dir()
    _agrees_with_torch(build, trained_tfc, fashion.x_test[:TFC_IMAGES])


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["hls", "rtl"])
def test_random_cnv_cleaned_export(impl, tmp_path):
    model = bnn_pynq_model("cnv_1w1a", seed=2)
    source = export(model, tmp_path / "cnv.onnx", "cleaned", (3, 32, 32))
    build = tmp_path / "build"
    assert _cli("build", build, "--model", source, "--input-scale", "1/255", "--verify-limit", 4,
                "--fps", 1000, "--impl", impl) == 0
    images = np.random.default_rng(0).integers(0, 256, size=(CNV_IMAGES, 3, 32, 32), dtype=np.uint8)
    _agrees_with_torch(build, model, images)
    assert _cli("deploy", build, "--out", tmp_path / "package") == 0


def test_refusals_name_the_file_and_the_option(tmp_path, capsys):
    plain = export(bnn_pynq_model("tfc_1w1a"), tmp_path / "tfc.onnx", "plain", (1, 28, 28))
    w2a2 = export(bnn_pynq_model("tfc_2w2a"), tmp_path / "w2a2.onnx", "plain", (1, 28, 28))
    (tmp_path / "junk.onnx").write_text("not a model")
    cases = [([plain], [plain, "--input-scale 1/255"]), ([w2a2, "--input-scale", "1/255"], [w2a2, "w1a1"]),
             ([tmp_path / "junk.onnx"], ["junk.onnx", "not a readable QONNX model"]),
             ([tmp_path / "none.onnx"], ["none.onnx", "no such"]),
             ([plain, "--input-scale", "-1"], ["--input-scale must be positive"])]
    for argv, needles in cases:
        assert _cli("build", tmp_path / "b", "--model", *argv) == 2, argv
        err = capsys.readouterr().err
        assert all(str(n) in err for n in needles) and "Traceback" not in err, err
        assert not (tmp_path / "b").exists()
