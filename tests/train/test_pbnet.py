"""PBNet: CLT moments and stochastic batchnorm against Monte Carlo; training and compilation."""

from __future__ import annotations

import torch
import torch.nn as nn

import numpy as np

from bnn2hw.compile.api import compile_run, load_run, member_batchnorm, run_weights
from bnn2hw.data import load_dataset
from bnn2hw.models import BinaryConv2d, BinaryLinear
from bnn2hw.train import train
from bnn2hw.train.methods import ReadOut, binary_weights
from bnn2hw.train.uncertainty import member_probs
from bnn2hw.train.pbnet import (
    binary_layer_moments,
    maxpool_of_signs,
    sign_probability,
    stochastic_batchnorm,
)
from tests.conftest import tiny_config

QUIET = dict(progress=False, log=lambda _: None)
DRAWS = 20_000


def _bernoulli_pm1(mean: torch.Tensor, draws: int, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand((draws, *mean.shape), generator=gen) < (1 + mean) / 2).double() * 2 - 1


def test_linear_moments_match_monte_carlo_for_stochastic_inputs():
    gen = torch.Generator().manual_seed(0)
    layer = BinaryLinear(12, 3).double()
    layer.weight.data = torch.randn(3, 12, generator=gen, dtype=torch.float64)
    x_mean = torch.rand(1, 12, generator=gen, dtype=torch.float64) * 2 - 1
    mu, var = binary_layer_moments(layer, x_mean, 1 - x_mean ** 2)
    theta = torch.tanh(layer.weight)
    assert torch.allclose(var, (1 - x_mean.T ** 2 * (theta ** 2).T).sum(0, keepdim=True))  # Σ(1 − m²θ²)
    w = _bernoulli_pm1(theta, DRAWS, gen)                  # (D, 3, 12)
    x = _bernoulli_pm1(x_mean[0], DRAWS, gen)              # (D, 12)
    out = torch.einsum("doi,di->do", w, x)
    assert torch.allclose(out.mean(0), mu[0], atol=0.1)
    assert torch.allclose(out.var(0), var[0], rtol=0.05)


def test_conv_moments_match_monte_carlo_for_deterministic_inputs():
    gen = torch.Generator().manual_seed(1)
    layer = BinaryConv2d(2, 2, 3).double()
    layer.weight.data = torch.randn(2, 2, 3, 3, generator=gen, dtype=torch.float64)
    x = torch.randint(0, 2, (1, 2, 4, 4), generator=gen).double() * 2 - 1
    mu, var = binary_layer_moments(layer, x, torch.zeros_like(x))
    theta = torch.tanh(layer.weight)
    assert torch.allclose(var[0, :, 0, 0], ((x[0, :, :3, :3] ** 2) * (1 - theta ** 2)).sum((1, 2, 3)))
    w = _bernoulli_pm1(theta, DRAWS, gen)
    out = torch.stack([torch.nn.functional.conv2d(x, w[d]) for d in range(0, DRAWS, 4)])
    assert torch.allclose(out.mean(0), mu, atol=0.15)
    assert torch.allclose(out.var(0), var, rtol=0.08, atol=0.05)


def test_stochastic_batchnorm_uses_the_moments_of_the_batch_mixture():
    gen = torch.Generator().manual_seed(2)
    mean = torch.randn(64, 3, generator=gen, dtype=torch.float64)
    var = torch.rand(64, 3, generator=gen, dtype=torch.float64) * 2
    bn = nn.BatchNorm1d(3, eps=1e-5).double().train()
    out_mean, out_var = stochastic_batchnorm(bn, mean, var)
    samples = mean + var.sqrt() * torch.randn((DRAWS // 20, 64, 3), generator=gen, dtype=torch.float64)
    pooled = samples.reshape(-1, 3)                         # draws from the batch mixture
    assert torch.allclose(bn.running_mean, 0.1 * pooled.mean(0), atol=0.01)
    assert torch.allclose(bn.running_var, 0.9 + 0.1 * pooled.var(0), atol=0.01)
    normed = (samples - pooled.mean(0)) / (pooled.var(0) + 1e-5).sqrt()
    assert torch.allclose(normed.mean(0), out_mean, atol=0.2)
    assert torch.allclose(normed.var(0), out_var, rtol=0.25, atol=0.02)


def test_sign_probability_and_maxpool_of_signs_match_sampling():
    gen = torch.Generator().manual_seed(3)
    mean, var = torch.randn(1, 1, 2, 2, generator=gen), torch.rand(1, 1, 2, 2, generator=gen) + 0.1
    gauss = mean + var.sqrt() * torch.randn((DRAWS, 1, 1, 2, 2), generator=gen)
    p = sign_probability(mean, var)
    assert torch.allclose((gauss >= 0).float().mean(0), p, atol=0.015)
    signs = torch.where(gauss >= 0, 1.0, -1.0)
    assert torch.allclose(signs.amax((3, 4)).mean(0).flatten(), maxpool_of_signs(2 * p - 1).flatten(), atol=0.03)


def test_latent_sampling_is_bernoulli_with_mean_theta():
    a = torch.tensor([-2.0, -0.3, 0.0, 0.7, 2.5]).repeat(4000, 1)
    draws = binary_weights("pbnet", [a], ReadOut.SAMPLE, torch.Generator().manual_seed(0))[0]
    assert torch.allclose(draws.mean(0), torch.tanh(a[0]), atol=0.05)


def test_pbnet_learns_and_map_and_samples_compile_exactly(tmp_path):
    for method in ("pbnet", "pbnet-s"):
        metrics = train(tiny_config(method=method, lr=0.1, epochs=3), tmp_path / method, **QUIET)
        assert metrics["test_acc"] > 0.5, (method, metrics["test_acc"])
        assert metrics["ensemble"]["samples"] == 3
    for sample in (None, 1):
        report = compile_run(tmp_path / "pbnet", tmp_path / f"build-{sample}", sample=sample)
        assert report["label_mismatches"] == 0 and report["value_mismatches"] == 0
    # compiled sample 1 is ensemble member 1, batchnorm statistics re-estimated as the member's
    ckpt, model = load_run(tmp_path / "pbnet")
    data = load_dataset("digits", val_fraction=0.1, seed=0)
    member = member_probs(model, run_weights(ckpt, model, 1), data.x_test, data.x_train, seed=1)
    assert report["torch_float_accuracy"] == float(np.mean(member.argmax(1) == data.y_test))
    mode_stats = _first_bn(model).running_mean.clone()
    member_batchnorm(ckpt, model, run_weights(ckpt, model, 1), 1, data.x_train)
    assert not torch.equal(_first_bn(model).running_mean, mode_stats)


def _first_bn(model):
    return next(m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
