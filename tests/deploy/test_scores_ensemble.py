"""Scores out of the accelerator (``build --output scores``) and board-style posterior ensembles.

A BayesBiNN run (the shared ``tiny_run``) is compiled with two posterior samples, built with
runtime-writable weights and a scores output, and deployed with both samples. The build's
scores must equal model.onnx's last-layer integers on the whole test split; the packaged
driver's ``--ensemble`` (sim and fake-pynq backends) must give the members' integer scores of
``bnn2hw.sim`` exactly and the probabilities of ``bnn2hw uncertainty``'s ensemble (torch, same
samples) to float rounding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bnn2hw import pipeline
from bnn2hw.data import load_dataset
from bnn2hw.deploy.package import load_driver
from bnn2hw.hw import HwError, build
from bnn2hw.hw.config import BuildConfig
from bnn2hw.sim import Accelerator
from bnn2hw.sim.compare import reference_outputs
from bnn2hw.sim.api import simulate
from bnn2hw.sim.ensemble import probabilities
from bnn2hw.train.method_base import Method, uncertain_share
from bnn2hw.train.checkpoint import load_trained
from bnn2hw.train.evaluate import ensemble_probs
from tests.deploy import fake_pynq
from tests.deploy.conftest import quiet_deploy
from tests.deploy.test_pynq_backend import board_package_of

SAMPLES = 2


@pytest.fixture(scope="module")
def scores_build(tiny_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scores") / "build"
    pipeline.run_compile(tiny_run, out, samples=SAMPLES)
    options = dict(board="pynq-z2", fps=100_000, verify_limit=20, stop_after="estimates", runtime_weights=True,
                   output="scores", log=lambda _: None)
    build(out, **options)
    options["fps"] = None
    for k in range(SAMPLES):
        build(out / "samples" / str(k), folding=str(out / "hw" / "folding.json"), **options)
    return out


@pytest.fixture(scope="module")
def scores_package(scores_build, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scores_pkg") / "pkg"
    quiet_deploy(scores_build, out, ensemble=SAMPLES)
    return out


def _test_images(package: Path) -> np.ndarray:
    return np.load(package / "data" / "test.npz")["images"]


def test_scores_output_equals_model_onnx_integers(scores_build, scores_package):
    images = _test_images(scores_package)
    for build_dir in [scores_build] + [scores_build / "samples" / str(k) for k in range(SAMPLES)]:
        out = Accelerator.load(build_dir / "hw").run(images)
        ref_labels, ref_scores = reference_outputs(build_dir / "model.onnx", images)
        assert np.array_equal(out.scores, ref_scores)
        assert np.array_equal(out.labels[:, 0], ref_labels)


def test_scores_build_has_no_label_select(scores_build):
    accelerator = Accelerator.load(scores_build / "hw")
    assert accelerator.label_select is None and accelerator.score_node is accelerator.kernels[-1]


def test_driver_ensemble_equals_pc_ensemble(tiny_run, scores_build, scores_package):
    driver = load_driver(scores_package)
    spec = driver.load_spec(scores_package)
    images = _test_images(scores_package)
    backend = driver.SimBackend(spec, scores_package, 128)
    members = []
    for k in range(SAMPLES):  # integer scores: the driver's equal bnn2hw.sim's on each sample build
        backend.load_weights(driver.sample_weights(spec, scores_package, k))
        members.append(driver.output_scores(driver.member_outputs(backend, images, spec), spec))
        expected = Accelerator.load(scores_build / "samples" / str(k) / "hw").run(images).scores
        assert np.array_equal(members[-1], expected)
    assert not np.array_equal(members[0], members[1])  # the posterior has not collapsed: samples differ
    result = driver.run_ensemble(backend, images, spec, scores_package, SAMPLES)
    scale = spec["output"]["output_scale"]
    assert np.array_equal(result["probabilities"], np.mean([probabilities(m, scale) for m in members], axis=0))
    ckpt, model = load_trained(tiny_run)
    torch_probs = ensemble_probs(model, Method(ckpt["config"]["method"]), list(ckpt["latent"]), images, SAMPLES,
                                 int(ckpt["config"]["seed"]))
    assert np.allclose(result["probabilities"], torch_probs, rtol=0, atol=1e-5)
    assert np.array_equal(result["labels"], np.argmax(result["probabilities"], axis=1))
    entropy = -np.sum(result["probabilities"] * np.log(result["probabilities"]), axis=1)
    assert np.allclose(result["entropy"], entropy, rtol=1e-12, atol=0)


def test_pynq_ensemble_equals_sim_ensemble(scores_build, tmp_path, monkeypatch):
    package = board_package_of(scores_build, tmp_path)
    driver = load_driver(package)
    spec = driver.load_spec(package)
    images = _test_images(package)[:64]
    sim = driver.run_ensemble(driver.SimBackend(spec, package, 64), images, spec, package, SAMPLES)
    fake_pynq.install(monkeypatch)
    board = driver.run_ensemble(driver.PynqBackend(spec, package, 32), images, spec, package, SAMPLES)
    assert np.array_equal(sim["labels"], board["labels"])
    assert np.array_equal(sim["probabilities"], board["probabilities"])


def test_driver_validate_reports_nll_and_saves_probabilities(scores_package, tmp_path, capsys):
    driver = load_driver(scores_package)
    saved = tmp_path / "p.npz"
    assert driver.main(["--validate", "--backend", "sim", "--ensemble", str(SAMPLES), "--probabilities",
                        str(saved)], package=scores_package) == 0
    report = capsys.readouterr().out
    assert '"nll"' in report and '"mean_entropy"' in report
    with np.load(saved) as data:
        assert data["probabilities"].shape == (len(_test_images(scores_package)), 10)
        assert np.allclose(data["probabilities"].sum(axis=1), 1.0)


def test_probabilities_need_a_scores_ensemble(scores_package, capsys):
    driver = load_driver(scores_package)
    assert driver.main(["--validate", "--backend", "sim", "--probabilities", "x.npz"], package=scores_package) == 2
    assert "--ensemble" in capsys.readouterr().err


def test_scores_with_rtl_layers_is_accepted_and_a_bad_output_refused():
    assert BuildConfig(output="scores", impl="rtl").output == "scores"   # tests/eda/test_rtl_scores.py runs it
    with pytest.raises(HwError, match="--output"):
        BuildConfig(output="logits")


def test_simulate_ensemble_reports_posterior_share_and_disagreement(tiny_run, scores_build):
    report = simulate(scores_build, ensemble=SAMPLES)
    ckpt, _ = load_trained(tiny_run)
    assert report["ensemble"]["posterior_uncertain_share"] == uncertain_share(list(ckpt["latent"]))
    images = load_dataset("digits").x_test
    members = [Accelerator.load(scores_build / "samples" / str(k) / "hw").run(images).scores for k in range(SAMPLES)]
    ensemble = np.argmax(np.mean([probabilities(m, report["output_scale"]) for m in members], axis=0), axis=1)
    mode = Accelerator.load(scores_build / "hw").run(images).labels[:, 0]
    assert report["ensemble"]["disagreement"] == float(np.mean(ensemble != mode))
