"""Continual-learning tasks and scores; uncertainty: AUROC, OOD images, reports, member order."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from bnn2hw.compile.api import load_run, run_weights
from bnn2hw.data import load_dataset
from bnn2hw.train.continual import (
    CONTINUAL_PRESETS, continual_config, make_tasks, method_lr, parse_scenario, sequence_scores, train_continual,
)
from bnn2hw.train.method_base import ReadOut, binary_weights, uncertain_share
from bnn2hw.train.uncertainty import auroc, disagreement, ood_images, permute_pixels, uncertainty_report
from tests.conftest import tiny_config


def test_auroc_is_rank_based_with_ties_counted_half():
    assert auroc(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 1.0
    assert auroc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 0.0
    assert auroc(np.array([1.0, 1.0]), np.array([1.0])) == 0.5
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(0.5, size=40)
    brute = np.mean([(y > x) + 0.5 * (y == x) for x in a for y in b])
    assert auroc(a, b) == pytest.approx(brute)


def test_tasks_permute_raw_pixels_and_split_relabels():
    data = load_dataset("digits")
    tasks = make_tasks(data, parse_scenario("permuted:3"), seed=0)
    assert tasks[0] is data and tasks[1].x_train.dtype == np.uint8
    assert np.array_equal(np.sort(tasks[1].x_test.reshape(len(data.x_test), -1), 1),
                          np.sort(data.x_test.reshape(len(data.x_test), -1), 1))
    assert not np.array_equal(tasks[1].x_test, tasks[2].x_test)
    split = make_tasks(data, parse_scenario("split:2"), seed=0)
    assert split[1].num_classes == 2 and set(split[1].y_test) == {0, 1}
    assert len(split[1].y_test) == int(np.sum((data.y_test == 2) | (data.y_test == 3)))
    with pytest.raises(ValueError):
        parse_scenario("rotated:2")


def test_sequence_scores():
    scores = sequence_scores([[0.9, 0.1], [0.6, 0.8]])
    assert scores["average_acc"] == pytest.approx(0.7) and scores["forgetting"] == pytest.approx(0.3)


def test_train_continual_writes_the_accuracy_matrix(tmp_path):
    result = train_continual(tiny_config(epochs=1), tmp_path, "permuted:2", log=lambda _: None)
    on_disk = json.loads((tmp_path / "continual.json").read_text())
    for method in ("bayesbinn", "ste"):
        r = on_disk["methods"][method]
        assert np.asarray(r["acc_matrix"]).shape == (2, 2) and 0 <= r["average_acc"] <= 1
        assert np.asarray(r["predictive"]["acc_matrix"]).shape == (2, 2)
    assert result["methods"]["bayesbinn"]["acc_matrix"][0][0] > 0.5
    assert result["methods"]["bayesbinn"]["predictive"]["samples"] == 3
    assert result["methods"]["ste"]["predictive"]["acc_matrix"] == result["methods"]["ste"]["acc_matrix"]


def test_each_task_starts_from_the_previous_posterior_as_prior(tmp_path):
    from bnn2hw.train.continual import Scenario, run_sequence
    from bnn2hw.train.loop import Trainer
    config = replace(tiny_config(epochs=1, test_samples=0), **CONTINUAL_PRESETS["binary"])
    tasks = make_tasks(load_dataset("digits", val_fraction=0.1), Scenario("permuted", 2))
    priors, posteriors = [], []
    original = Trainer.run_epoch

    def spy(trainer, progress):  # the prior each task trains against, and the posterior it ends with
        opt = trainer.optimizer
        priors.append([opt.state[p]["prior_lam"].clone() for g in opt.param_groups if g.get("binary")
                       for p in g["params"]])
        record = original(trainer, progress)
        posteriors.append([opt.state[p]["lam"].clone() for g in opt.param_groups if g.get("binary")
                           for p in g["params"]])
        return record
    Trainer.run_epoch = spy
    try:
        run_sequence(config, tasks, tmp_path, log=lambda _: None)
    finally:
        Trainer.run_epoch = original
    assert all(torch.equal(a, b) for a, b in zip(priors[1], posteriors[0]))
    assert not all(torch.equal(a, b) for a, b in zip(priors[0], posteriors[0]))


def test_authors_preset_is_their_experiment_and_does_not_compile(tmp_path):
    from bnn2hw.compile import CompileError
    from bnn2hw.compile.api import compile_run
    config = continual_config("authors")
    assert (config.model, config.temperature, config.epochs, config.test_samples) == ("cl100", 1e-2, 100, 100)
    assert method_lr(config, "bayesbinn", "authors") == 1e-3
    short = replace(config, dataset="digits", epochs=2, test_samples=5, lr=0.05)
    result = train_continual(short, tmp_path, "permuted:2", methods=("bayesbinn",), log=lambda _: None,
                             preset="authors")
    r = result["methods"]["bayesbinn"]
    assert result["preset"] == "authors" and r["predictive"]["samples"] == 5 and r["acc_matrix"][0][0] > 0.3
    _, model = load_run(tmp_path / "bayesbinn")
    assert not model.hardware_ready and any(isinstance(m, torch.nn.ReLU) for m in model.modules())
    with pytest.raises(CompileError, match="real-valued ReLU activations"):
        compile_run(tmp_path / "bayesbinn", tmp_path / "build")


def test_continual_config_puts_user_options_over_the_authors_settings():
    config = continual_config(model="mlp:8", lr=0.5)
    assert config.temperature == 1e-2 and config.bn_lr == 0.0 and config.model == "mlp:8"
    assert continual_config(temperature=1e-3).temperature == 1e-3
    assert method_lr(config, "bayesbinn") == 0.5 and method_lr(config, "ste") is None
    assert method_lr(continual_config(), "bayesbinn") == 1e-2


def test_continual_training_keeps_batchnorm_affine_fixed(tmp_path):
    config = replace(tiny_config(epochs=1), **CONTINUAL_PRESETS["binary"])
    train_continual(config, tmp_path, "permuted:2", methods=("bayesbinn",), log=lambda _: None)
    _, model = load_run(tmp_path / "bayesbinn")
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert bns and all(torch.all(bn.weight == 1) and torch.all(bn.bias == 0) for bn in bns)
    assert any(torch.any(bn.running_mean != 0) for bn in bns)  # the statistics still adapt


def test_ood_images_and_permutation_keep_uint8_shapes():
    like = np.zeros((5, 1, 28, 28), np.uint8)
    digits = ood_images("digits", like)
    assert digits.shape[1:] == (1, 28, 28) and digits.dtype == np.uint8 and digits.max() > 128
    x = np.arange(2 * 1 * 2 * 2, dtype=np.uint8).reshape(2, 1, 2, 2)
    assert np.array_equal(permute_pixels(x, np.array([3, 2, 1, 0]))[0, 0], [[3, 2], [1, 0]])


def test_uncertainty_report_and_ensemble_members_are_compiled_samples(tiny_run, tmp_path):
    report = uncertainty_report(tiny_run, tmp_path, ood="permuted", samples=2)
    assert {"mode", "ensemble"} <= set(report["readouts"])
    assert 0.0 <= report["readouts"]["ensemble"]["ood_auroc"] <= 1.0
    assert (tmp_path / "reliability.png").stat().st_size > 1000
    ckpt, model = load_run(tiny_run)
    gen = torch.Generator().manual_seed(ckpt["config"]["seed"])
    members = [binary_weights("bayesbinn", ckpt["latent"], ReadOut.SAMPLE, gen) for _ in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(members[1], run_weights(ckpt, model, sample=1)))


def test_uncertain_share_counts_the_band_inclusively():
    # q(w=+1) = sigmoid(2λ): λ = ±atanh(0.9) sits on the band's edges 0.05 and 0.95
    edge = float(np.arctanh(0.9))
    latent = [torch.tensor([0.0, edge - 1e-6, -edge + 1e-6, 3.0]), torch.tensor([[-3.0, 40.0]])]
    assert uncertain_share(latent) == pytest.approx(3 / 6)
    assert uncertain_share([torch.full((4,), 1e9)]) == 0.0


def test_report_shows_posterior_share_and_disagreement(tiny_run, tmp_path):
    report = uncertainty_report(tiny_run, tmp_path, ood="permuted", samples=3)
    ckpt, _ = load_run(tiny_run)
    assert report["posterior"]["uncertain_share"] == uncertain_share(list(ckpt["latent"]))
    ens = report["readouts"]["ensemble"]
    assert 0.0 <= ens["disagreement"] <= 1.0
    assert disagreement(np.eye(3)[[0, 1, 2, 2]], np.eye(3)[[0, 2, 2, 1]]) == 0.5


def test_interrupted_sequence_resumes_bit_for_bit_and_is_not_overwritten(tmp_path, monkeypatch):
    from bnn2hw.output_dir import OutputDirError
    from bnn2hw.pipeline import run_continual
    from bnn2hw.train.checkpoint import CheckpointError, load_checkpoint
    from bnn2hw.train.loop import Trainer

    config, quiet = tiny_config(epochs=2), dict(methods=("bayesbinn",), log=lambda _: None)
    full = train_continual(config, tmp_path / "full", "permuted:2", **quiet)["methods"]["bayesbinn"]
    original, calls = Trainer.run_epoch, []

    def interrupted(self, progress):
        if len(calls) == 3:  # task 2, after its first epoch
            raise KeyboardInterrupt
        calls.append(1)
        return original(self, progress)
    monkeypatch.setattr(Trainer, "run_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_continual(config, tmp_path / "cut", "permuted:2", **quiet)
    stored = load_checkpoint(tmp_path / "cut" / "bayesbinn" / "checkpoint.pt")
    assert stored["continual"]["task"] == 1 and stored["epoch"] == 1 and len(stored["continual"]["matrix"]) == 1
    with pytest.raises(OutputDirError, match="--resume continues it"):
        run_continual(tmp_path / "cut", {"model": "mlp:32", "dataset": "digits"}, "permuted:2")
    with pytest.raises(CheckpointError, match="no continual sequence to resume"):
        run_continual(tmp_path / "empty", {"model": "mlp:32", "dataset": "digits"}, "permuted:2", resume=True)
    monkeypatch.setattr(Trainer, "run_epoch", original)
    resumed = train_continual(config, tmp_path / "cut", "permuted:2", resume=True, **quiet)["methods"]["bayesbinn"]
    assert resumed["acc_matrix"] == full["acc_matrix"] and resumed["predictive"] == full["predictive"]
    latent = [load_checkpoint(tmp_path / d / "bayesbinn" / "checkpoint.pt")["latent"] for d in ("full", "cut")]
    assert all(torch.equal(a, b) for a, b in zip(*latent, strict=True))
    monkeypatch.setattr(Trainer, "run_epoch", lambda *_: pytest.fail("a finished sequence trained again"))
    again = train_continual(config, tmp_path / "cut", "permuted:2", resume=True, **quiet)["methods"]["bayesbinn"]
    assert again["acc_matrix"] == full["acc_matrix"]
    with pytest.raises(CheckpointError, match="not a continual sequence on permuted:3"):
        train_continual(config, tmp_path / "cut", "permuted:3", resume=True, **quiet)
