"""Batchnorm statistics after training: the mixture moments, and BayesBiNN's population of mode
network and posterior samples (``mode_batchnorm_share``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from bnn2hw.data import load_dataset
from bnn2hw.train import TrainConfig, train
from bnn2hw.train.batchnorm import batchnorm_layers, reestimate_batchnorm, running_stats, set_mixture
from bnn2hw.train.method_base import Method, ReadOut, binary_weights, use_weights
from bnn2hw.train.checkpoint import load_trained
from bnn2hw.train.uncertainty import population_batchnorm
from tests.conftest import tiny_config


def _same(a, b) -> bool:
    return all(torch.equal(ma, mb) and torch.equal(va, vb) for (ma, va), (mb, vb) in zip(a, b, strict=True))


def _close(a, b) -> bool:  # the mixture's E[x²] − mean² rounds
    return all(torch.allclose(ma, mb, atol=1e-5) and torch.allclose(va, vb, rtol=1e-5)
               for (ma, va), (mb, vb) in zip(a, b, strict=True))


def test_mixture_moments_are_those_of_the_pooled_populations():
    bn = torch.nn.BatchNorm1d(3)
    rng = np.random.default_rng(0)
    first, second = rng.normal(0, 1, (400, 3)), rng.normal(2, 3, (400, 3))
    stats = [[(torch.tensor(x.mean(0), dtype=torch.float32), torch.tensor(x.var(0), dtype=torch.float32))]
             for x in (first, second)]
    set_mixture(bn, [(0.5, stats[0]), (0.5, stats[1])])
    pooled = np.concatenate([first, second])
    assert np.allclose(bn.running_mean.numpy(), pooled.mean(0), atol=1e-5)
    assert np.allclose(bn.running_var.numpy(), pooled.var(0), atol=1e-4)
    with pytest.raises(ValueError, match="sum to 1"):
        set_mixture(bn, [(0.5, stats[0]), (0.4, stats[1])])


@pytest.fixture(scope="module")
def posterior(tiny_run):
    ckpt, model = load_trained(tiny_run)
    data = load_dataset("digits", val_fraction=0.1, seed=0)
    return model, list(ckpt["latent"]), data.x_train


def test_population_statistics_mix_mode_and_samples(posterior):
    model, latent, images = posterior
    mode = binary_weights(Method.BAYESBINN, latent, ReadOut.MODE)
    with use_weights(model, mode):
        reestimate_batchnorm(model, images, batches=100, seed=0)
    mode_only = running_stats(model)
    population_batchnorm(model, Method.BAYESBINN, latent, images, 1.0, seed=0)
    assert _close(running_stats(model), mode_only)
    population_batchnorm(model, Method.BAYESBINN, latent, images, 0.0, seed=0)
    samples_only = running_stats(model)
    assert not _close(samples_only, mode_only)  # the samples flip uncertain weights
    population_batchnorm(model, Method.BAYESBINN, latent, images, 0.25, seed=0)
    mixed = running_stats(model)
    expected = [0.25 * m + 0.75 * s for (m, _), (s, _) in zip(mode_only, samples_only)]
    assert all(torch.allclose(got, want, atol=1e-6) for (got, _), want in zip(mixed, expected))
    population_batchnorm(model, Method.BAYESBINN, latent, images, 0.25, seed=0)
    assert _same(running_stats(model), mixed)  # idempotent: a resumed, finished run reads out the same


def test_calibrated_preset_reads_out_with_population_statistics_paper_keeps_training_ones(tmp_path):
    calibrated = replace(tiny_config(), mode_batchnorm_share=0.25)
    train(calibrated, tmp_path / "c", progress=False, log=lambda _: None)
    ckpt, model = load_trained(tmp_path / "c")
    stored = running_stats(model)
    data = load_dataset("digits", val_fraction=0.1, seed=0)
    population_batchnorm(model, Method.BAYESBINN, list(ckpt["latent"]), data.x_train, 0.25, seed=0)
    assert _same(running_stats(model), stored)
    paper = replace(tiny_config(), preset="paper")
    train(paper, tmp_path / "p", progress=False, log=lambda _: None)
    ckpt, model = load_trained(tmp_path / "p")
    stored = running_stats(model)
    population_batchnorm(model, Method.BAYESBINN, list(ckpt["latent"]), data.x_train, 0.0, seed=0)
    assert not _same(running_stats(model), stored)  # the paper's run kept what training learnt


def test_mode_batchnorm_share_is_a_share():
    assert TrainConfig(mode_batchnorm_share=1.0).mode_batchnorm_share == 1.0
    with pytest.raises(ValueError, match=r"mode_batchnorm_share \(--mode-batchnorm-share\) must be in \[0, 1\]"):
        TrainConfig(mode_batchnorm_share=1.5)
    assert batchnorm_layers(torch.nn.Linear(2, 2)) == []
