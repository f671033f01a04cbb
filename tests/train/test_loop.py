"""The training loop: learning, artifacts, checkpoint round trip, resume, NaN stop."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bnn2hw.data import load_dataset
from bnn2hw.models import ModelConfig, build_model
from bnn2hw.train import CheckpointError, TrainingDiverged, load_checkpoint, train
from bnn2hw.train.evaluate import predict_probs
from bnn2hw.train.method_base import ReadOut, binary_weights, use_weights
from tests.conftest import tiny_config

QUIET = dict(progress=False, log=lambda _: None)


@pytest.mark.parametrize("method", ["bayesbinn", "ste"])
def test_small_network_learns_digits(tmp_path, method):
    metrics = train(tiny_config(method=method, epochs=6), tmp_path, **QUIET)
    assert metrics["test_acc"] > 0.75, metrics["test_acc"]
    for key in ("test_acc", "test_nll", "test_ece", "epochs", "train_seconds", "method", "model", "dataset"):
        assert key in metrics
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["test_acc"] == metrics["test_acc"] and on_disk["epochs"] == 6
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert (on_disk["ensemble"] is None) == (method == "ste")


def test_checkpoint_loads_weights_only_and_reproduces_the_mode_network(tiny_run):
    raw = torch.load(tiny_run / "checkpoint.pt", weights_only=True)
    ckpt = load_checkpoint(tiny_run / "checkpoint.pt")
    assert raw["epoch"] == ckpt["epoch"] == 2
    model = build_model(ModelConfig(**ckpt["model_config"]))
    model.load_state_dict(ckpt["model_state"])
    data = load_dataset("digits")
    with use_weights(model, binary_weights("bayesbinn", ckpt["latent"], ReadOut.MODE)):
        probs = predict_probs(model, data.x_test)
    stored = json.loads((tiny_run / "metrics.json").read_text())
    assert np.mean(probs.argmax(1) == data.y_test) == pytest.approx(stored["test_acc"])


def test_resume_after_interrupt_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    import bnn2hw.train.loop as loop

    straight, split = tmp_path / "straight", tmp_path / "split"
    train(tiny_config(epochs=3), straight, **QUIET)
    real_epoch = loop.Trainer.run_epoch

    def interrupted(self, progress):
        if self.epoch == 1:
            raise KeyboardInterrupt
        return real_epoch(self, progress)

    monkeypatch.setattr(loop.Trainer, "run_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(epochs=3), split, **QUIET)
    assert load_checkpoint(split / "checkpoint.pt")["epoch"] == 1
    monkeypatch.setattr(loop.Trainer, "run_epoch", real_epoch)
    train(tiny_config(epochs=3), split, resume=True, **QUIET)
    a, b = load_checkpoint(straight / "checkpoint.pt"), load_checkpoint(split / "checkpoint.pt")
    assert all(torch.equal(x, y) for x, y in zip(a["latent"], b["latent"]))
    assert a["epoch"] == b["epoch"] == 3


def test_resume_refuses_a_changed_config(tmp_path):
    train(tiny_config(epochs=1), tmp_path, **QUIET)
    with pytest.raises(CheckpointError, match="model"):
        train(tiny_config(epochs=2, model="mlp:16"), tmp_path, resume=True, **QUIET)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import bnn2hw.train.loop as loop

    real = loop.F.cross_entropy
    calls = {"n": 0}

    def poisoned(logits, target, **kw):
        calls["n"] += 1
        loss = real(logits, target, **kw)
        return loss * float("nan") if calls["n"] > 25 and logits.requires_grad else loss

    monkeypatch.setattr(loop.F, "cross_entropy", poisoned)
    with pytest.raises(TrainingDiverged, match="last good checkpoint"):
        train(tiny_config(epochs=5), tmp_path, **QUIET)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] >= 1


@pytest.mark.parametrize("content,match", [(b"not a checkpoint", "corrupt"), (None, "no such")])
def test_bad_checkpoint_files_are_named(tmp_path, content, match):
    path = tmp_path / "checkpoint.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_foreign_torch_file_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="not a bnn2hw checkpoint"):
        load_checkpoint(path)
