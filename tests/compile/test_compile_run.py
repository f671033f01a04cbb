"""compile_run on trained and untrained runs (0 mismatches on whole test splits), posterior
samples, and every refusal with its clear CompileError."""

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from conftest import write_untrained_run

from bnn2hw.compile import CompileError, compile_run, integer_network, to_qonnx, verify_network
from bnn2hw.compile.api import float_labels, load_run, run_weights
from bnn2hw.data import load_dataset
from bnn2hw.models import BinaryLinear, BinaryNet, InputQuant, ModelConfig, OutputScale, SignActivation, build_model


def _assert_exact(summary: dict, images: int):
    assert summary["images"] == images
    assert summary["label_mismatches"] == 0 and summary["value_mismatches"] == 0
    assert summary["integer_accuracy"] == summary["qonnx_accuracy"] == summary["torch_float_accuracy"]
    assert summary["torch_integer_label_disagreements"] == 0


@pytest.mark.parametrize("run", ["tfc_digits_run", "sfc_digits_run"])
def test_trained_mlp_compiles_with_zero_mismatches(run, request, tmp_path):
    summary = compile_run(request.getfixturevalue(run), tmp_path)
    _assert_exact(summary, 359)
    assert summary["integer_accuracy"] > 0.5
    assert json.loads((tmp_path / "verify.json").read_text())["label_mismatches"] == 0
    assert (tmp_path / "model.onnx").stat().st_size > 0


def test_posterior_sample_is_seeded_and_differs_from_mode(tfc_digits_run, tmp_path):
    ckpt, model = load_run(tfc_digits_run)
    ckpt["latent"] = [0.3 * torch.randn_like(lam) for lam in ckpt["latent"]]  # an uncertain posterior
    mode, s0, s0_again, s1 = (run_weights(ckpt, model, s) for s in (None, 0, 0, 1))
    assert all(torch.equal(a, b) for a, b in zip(s0, s0_again))
    assert not all(torch.equal(a, b) for a, b in zip(s0, s1))
    assert not all(torch.equal(a, b) for a, b in zip(mode, s0))
    _assert_exact(compile_run(tfc_digits_run, tmp_path, sample=1), 359)


def _cnv_digits_run(tmp_path):
    return write_untrained_run(tmp_path / "run", ModelConfig("cnv", 1, (1, 8, 8), 10))


def test_untrained_cnv_compiles_with_zero_mismatches(tmp_path):
    ckpt, model = load_run(_cnv_digits_run(tmp_path))
    weights = run_weights(ckpt, model)
    net = integer_network(model, weights)
    data = load_dataset("digits")
    images, labels = data.x_test[:60], data.y_test[:60]
    report = verify_network(net, to_qonnx(net), images, labels, float_labels(model, weights, images))
    _assert_exact(report, 60)


@pytest.mark.slow
def test_untrained_cnv_compile_run_whole_split(tmp_path):
    _assert_exact(compile_run(_cnv_digits_run(tmp_path), tmp_path / "build"), 359)


@pytest.mark.slow
def test_tfc_fashion_mnist(tmp_path):
    from bnn2hw.train import TrainConfig, train
    train(TrainConfig(model="tfc", dataset="fashion-mnist", epochs=1), tmp_path / "run", progress=False)
    _assert_exact(compile_run(tmp_path / "run", tmp_path / "build"), 10000)


def test_refuses_missing_run_and_checkpoint(tmp_path):
    with pytest.raises(CompileError, match="no such run directory"):
        compile_run(tmp_path / "nope", tmp_path / "out")
    with pytest.raises(CompileError, match="no such checkpoint file"):
        compile_run(tmp_path, tmp_path / "out")


def test_refuses_corrupt_and_foreign_checkpoints(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CompileError, match="corrupt"):
        compile_run(tmp_path, tmp_path / "out")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "checkpoint.pt")
    with pytest.raises(CompileError, match="not a bnn2hw checkpoint"):
        compile_run(tmp_path, tmp_path / "out")


def test_refuses_checkpoint_whose_state_does_not_match(tmp_path):
    run = write_untrained_run(tmp_path, ModelConfig("tfc", 1, (1, 8, 8), 10))
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    ckpt["model_config"]["name"] = "sfc"
    torch.save(ckpt, run / "checkpoint.pt")
    with pytest.raises(CompileError, match="does not match"):
        compile_run(run, tmp_path / "out")


def test_refuses_sample_without_posterior(tfc_ste_run, tfc_digits_run, tmp_path):
    with pytest.raises(CompileError, match="no posterior"):
        compile_run(tfc_ste_run, tmp_path, sample=0)
    with pytest.raises(CompileError, match="non-negative"):
        compile_run(tfc_digits_run, tmp_path, sample=-1)


def _tiny(layers):
    return BinaryNet(ModelConfig("mlp:4", 1, (1, 2, 2), 3), nn.Sequential(*layers)).eval()


def _weights(model):
    return [torch.ones_like(layer.weight) for layer in model.binary_layers()]


@pytest.mark.parametrize("layers,message", [
    ([InputQuant(1), nn.Flatten(), BinaryLinear(4, 4), nn.ReLU(), BinaryLinear(4, 3)],
     r"unsupported layer ReLU at layers\.3.*not binary"),
    ([InputQuant(1), nn.Flatten(), BinaryLinear(4, 4), nn.BatchNorm1d(4), BinaryLinear(4, 3)],
     r"BatchNorm1d at layers\.3: batchnorm not followed by SignActivation.*not binary"),
    ([InputQuant(1), nn.Flatten(), nn.Linear(4, 3)], r"unsupported layer Linear at layers\.2"),
    ([InputQuant(1), nn.Flatten(), BinaryLinear(4, 4), SignActivation()], "must end with"),
    ([nn.Flatten(), InputQuant(1), BinaryLinear(4, 3)], r"Flatten at layers\.0"),
    ([InputQuant(1), nn.Flatten(), BinaryLinear(4, 3), OutputScale(), SignActivation()], r"layers\.3"),
])
def test_refuses_networks_that_are_not_binary(layers, message):
    model = _tiny(layers)
    with pytest.raises(CompileError, match=message):
        integer_network(model, _weights(model))


def test_refuses_real_valued_weights():
    model = build_model(ModelConfig("mlp:4", 1, (1, 2, 2), 3)).eval()
    weights = [torch.tanh(torch.randn_like(layer.weight)) for layer in model.binary_layers()]
    with pytest.raises(CompileError, match=r"not all ±1.*not binary"):
        integer_network(model, weights)


def test_refuses_batchnorm_without_running_statistics():
    bn = nn.BatchNorm1d(4, track_running_stats=False)
    model = _tiny([InputQuant(1), nn.Flatten(), BinaryLinear(4, 4), bn, SignActivation(), BinaryLinear(4, 3)])
    with pytest.raises(CompileError, match="running statistics"):
        integer_network(model, _weights(model))


def test_sign_without_batchnorm_and_affine_free_batchnorm_compile():
    model = _tiny([InputQuant(1), nn.Flatten(), BinaryLinear(4, 4), SignActivation(), BinaryLinear(4, 4),
                   nn.BatchNorm1d(4, affine=False), SignActivation(), BinaryLinear(4, 3)])
    net = integer_network(model, [torch.tensor(np.random.default_rng(0).choice([-1.0, 1.0], size=tuple(
        layer.weight.shape)), dtype=torch.float32) for layer in model.binary_layers()])
    images = np.arange(256, dtype=np.uint8).reshape(64, 1, 2, 2)
    report = verify_network(net, to_qonnx(net), images, np.zeros(64, np.int64))
    assert report["label_mismatches"] == 0 and report["value_mismatches"] == 0
