"""BayesBiNN: the update against the paper's formula on a hand-computed toy case, and the
statistics of the relaxation and of the posterior sampler."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from bnn2hw.train.bayesbinn import (
    BayesBiNN,
    bernoulli_sample,
    bipolar_sign,
    natural_gradient_scale,
    relaxed_sample,
)
from bnn2hw.train.bayesbinn_kernels import (
    TANH_SATURATES, relaxed_sample_into, saturated_scale_is_bound, scaled_gradient,
)
from bnn2hw.train.loop import TrainConfig, saved_config
from bnn2hw.train.presets import DEFAULT_PRESET, PRESETS, bayesbinn_settings


def _toy(lam0, lr, temperature, momentum=0.0, n=10):
    w = torch.nn.Parameter(torch.ones(len(lam0)))
    opt = BayesBiNN([{"params": [w], "binary": True}], train_set_size=n, lr=lr,
                    temperature=temperature, momentum=momentum)
    opt.state[w]["lam"] = torch.tensor(lam0)
    return w, opt


def _expected_step(lam, u, c, lr, tau, n, prior=0.0):
    """The paper's update in float64 by hand: one sample, β = 0, loss Σ c_i w_i."""
    out = []
    for l, ui, ci in zip(lam, u, c):
        w = math.tanh((l + 0.5 * math.log(ui / (1 - ui))) / tau)
        s = (1 - w * w + 1e-10) / tau / (1 - math.tanh(l) ** 2 + 1e-10)
        out.append(l - lr * (n * s * ci + (l - prior)))
    return out


def test_update_matches_formula_on_toy_case():
    lam0, c = [0.5, -1.0, 2.0], torch.tensor([0.3, -0.2, 0.1])
    w, opt = _toy(lam0, lr=0.1, temperature=1.0)
    torch.manual_seed(123)
    u = torch.rand(3).double().tolist()
    torch.manual_seed(123)
    opt.zero_grad()
    opt.step(lambda: (w * c).sum().backward() or (w * c).sum())
    expected = _expected_step(lam0, u, c.tolist(), lr=0.1, tau=1.0, n=10)
    assert torch.allclose(opt.state[w]["lam"].double(), torch.tensor(expected, dtype=torch.float64), rtol=1e-5)
    assert torch.equal(w.detach(), bipolar_sign(opt.state[w]["lam"]))  # mode after the step


def _closure(w, c):
    def closure():
        w.grad = None
        loss = (w * c).sum()
        loss.backward()
        return loss
    return closure


def test_momentum_bias_correction_and_prior():
    # Two steps with β = 0.5 and a prior λ₀; the first corrected step equals the β = 0 step.
    c = torch.tensor([0.4, -0.7])
    w, opt = _toy([0.3, -0.4], lr=0.05, temperature=1.0, momentum=0.5)
    opt.state[w]["prior_lam"] = torch.tensor([1.0, -1.0])
    torch.manual_seed(7)
    u1, u2 = torch.rand(2).double().tolist(), torch.rand(2).double().tolist()
    torch.manual_seed(7)
    opt.step(_closure(w, c))
    lam1 = _expected_step([0.3, -0.4], u1, c.tolist(), 0.05, 1.0, 10, prior=1.0)
    lam1[1] = _expected_step([-0.4], u1[1:], c.tolist()[1:], 0.05, 1.0, 10, prior=-1.0)[0]
    assert torch.allclose(opt.state[w]["lam"].double(), torch.tensor(lam1, dtype=torch.float64), rtol=1e-5)
    opt.step(_closure(w, c))
    m1 = [(0.3 - l) / 0.05 for l in lam1[:1]] + [(-0.4 - lam1[1]) / 0.05]  # β=0 step: m = λ-change / lr
    prior = [1.0, -1.0]
    lam2 = []
    for i in range(2):
        w2 = math.tanh(lam1[i] + 0.5 * math.log(u2[i] / (1 - u2[i])))
        s = (1 - w2 * w2 + 1e-10) / (1 - math.tanh(lam1[i]) ** 2 + 1e-10)
        g = 10 * s * c[i].item() + (lam1[i] - prior[i])
        m2 = 0.5 * (0.5 * m1[i]) + 0.5 * g  # m₁ stored = (1-β)·g₁ since m₀ = 0
        lam2.append(lam1[i] - 0.05 * m2 / (1 - 0.5 ** 2))
    assert torch.allclose(opt.state[w]["lam"].double(), torch.tensor(lam2, dtype=torch.float64), rtol=1e-4)


def test_mc_samples_average_the_scaled_gradient():
    c = torch.tensor([0.5])
    w, opt = _toy([0.2], lr=0.1, temperature=0.5)
    opt.mc_samples = 4
    torch.manual_seed(3)
    us = [torch.rand(1).item() for _ in range(4)]
    torch.manual_seed(3)
    opt.step(_closure(w, c))
    grads = []
    for u in us:
        ws = math.tanh((0.2 + 0.5 * math.log(u / (1 - u))) / 0.5)
        grads.append(10 * (1 - ws * ws + 1e-10) / 0.5 / (1 - math.tanh(0.2) ** 2 + 1e-10) * 0.5)
    expected = 0.2 - 0.1 * (sum(grads) / 4 + 0.2)
    assert opt.state[w]["lam"].item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("temperature", [1e-10, 1.0])
def test_relaxation_sign_is_bernoulli_with_mean_tanh_lambda(temperature):
    torch.manual_seed(0)
    lam = torch.tensor([-1.5, -0.3, 0.0, 0.7, 2.0]).repeat(40_000, 1)
    w = relaxed_sample(lam, temperature)
    p_plus = (w > 0).double().mean(0)
    assert torch.allclose(p_plus, torch.sigmoid(2 * lam[0]).double(), atol=0.01)
    if temperature < 1e-6:  # hard samples: the mean is tanh λ
        assert torch.allclose(w.double().mean(0), torch.tanh(lam[0]).double(), atol=0.02)


def test_bernoulli_sampler_statistics_and_seed():
    lam = torch.tensor([-1.0, 0.0, 0.4, 3.0]).repeat(50_000, 1)
    a = bernoulli_sample(lam, torch.Generator().manual_seed(5))
    b = bernoulli_sample(lam, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {-1.0, 1.0}
    assert torch.allclose(a.double().mean(0), torch.tanh(lam[0]).double(), atol=0.02)


def test_saturated_weights_keep_a_finite_scale():
    lam = torch.tensor([10.0, -10.0, 1e6])
    w = torch.tensor([1.0, -1.0, 1.0])
    scale = natural_gradient_scale(w, lam, 1e-10)
    assert torch.isfinite(scale).all() and (scale > 0).all()


def test_non_binary_group_gets_adam_and_bad_arguments_are_refused():
    b = torch.nn.Parameter(torch.zeros(2))
    w = torch.nn.Parameter(torch.ones(2))
    opt = BayesBiNN([{"params": [w], "binary": True}, {"params": [b], "lr": 0.1}], train_set_size=5)
    opt.step(lambda: (b.grad.zero_() if b.grad is not None else None, (w.sum() + (b * 3).sum()))[1].backward()
             or (w.sum() + (b * 3).sum()))
    assert torch.allclose(b.detach(), torch.full((2,), -0.1))  # Adam's first step is -lr·sign(g)
    for bad in (dict(temperature=0), dict(mc_samples=0), dict(momentum=1.0), dict(lr=-1)):
        with pytest.raises(ValueError):
            BayesBiNN([{"params": [w], "binary": True}], train_set_size=5, **bad)
    with pytest.raises(ValueError):
        BayesBiNN([{"params": [w], "binary": True}], train_set_size=0)


def test_tempered_likelihood_and_capped_scale_follow_the_formula():
    # τ = 1e-10: saturated samples, the paper's scale is 1/(1 - tanh²λ) = cosh²λ; capped at 1 the
    # step is λ - lr·(s·N·c + λ) whatever λ is (s: likelihood scale).
    lam0, c = [0.5, -3.0, 8.0], torch.tensor([0.3, -0.2, 0.1])
    w = torch.nn.Parameter(torch.ones(3))
    opt = BayesBiNN([{"params": [w], "binary": True}], train_set_size=1000, lr=0.01, temperature=1e-10,
                    likelihood_scale=0.05, scale_bound=1.0)
    opt.state[w]["lam"] = torch.tensor(lam0)
    opt.step(_closure(w, c))
    expected = [l - 0.01 * (0.05 * 1000 * ci + l) for l, ci in zip(lam0, c.tolist())]
    assert torch.allclose(opt.state[w]["lam"].double(), torch.tensor(expected, dtype=torch.float64), rtol=1e-5)


def test_lambda_bound_clips_the_natural_parameter_and_its_start():
    w = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    opt = BayesBiNN([{"params": [w], "binary": True}], train_set_size=10_000, lr=0.1, lambda_bound=2.0)
    assert torch.equal(opt.state[w]["lam"], torch.tensor([2.0, -2.0]))  # λ init 10 clipped to the bound
    opt.step(_closure(w, torch.tensor([-5.0, 5.0])))  # pushes λ far beyond the bound
    assert torch.equal(opt.state[w]["lam"], torch.tensor([2.0, -2.0]))
    for bad in (dict(likelihood_scale=0), dict(lambda_bound=-1.0), dict(scale_bound=0.0)):
        with pytest.raises(ValueError):
            BayesBiNN([{"params": [w], "binary": True}], train_set_size=5, **bad)


def test_presets_resolve_with_explicit_settings_over_them():
    assert bayesbinn_settings(TrainConfig()) == PRESETS[DEFAULT_PRESET]
    paper = bayesbinn_settings(TrainConfig(preset="paper", temperature=1e-2))
    assert paper == replace(PRESETS["paper"], temperature=1e-2) and paper.likelihood_scale == 1.0
    assert saved_config({"method": "bayesbinn"}).preset == "paper"  # saved before presets existed
    with pytest.raises(ValueError, match="preset"):
        TrainConfig(preset="nonexistent")


def test_float32_tanh_is_exactly_one_from_the_saturation_threshold():
    # every float32 in [TANH_SATURATES, 40), and a sweep to 1e38: tanh is ±1 exactly there
    lo, hi = np.float32(TANH_SATURATES).view(np.int32), np.float32(40).view(np.int32)
    x = torch.from_numpy(np.arange(lo, hi, dtype=np.int32).view(np.float32).copy())
    x = torch.cat([x, torch.logspace(1.6, 38, 100_000), torch.tensor([float("inf")])])
    assert torch.equal(torch.tanh(x), torch.ones_like(x)) and torch.equal(torch.tanh(-x), -torch.ones_like(x))
    assert torch.tanh(torch.tensor([TANH_SATURATES * 0.85])).item() < 1.0  # and not far below it


def _lambdas():
    return torch.cat([torch.randn(3000, generator=torch.Generator().manual_seed(1)) * 3,
                      torch.tensor([0.0, -0.0, 1e-12, 40.0, -1e6])])


@pytest.mark.parametrize("temperature", [1e-10, 1e-3, 1.0])
def test_fused_sample_is_the_relaxed_sample_bit_for_bit(temperature):
    lam = _lambdas()
    torch.manual_seed(11)
    reference = relaxed_sample(lam, temperature)
    torch.manual_seed(11)
    out = torch.empty_like(lam)
    saturated = relaxed_sample_into(out, lam, temperature)
    assert torch.equal(out, reference)
    assert saturated is (temperature == 1e-10)  # the presets' τ: every sample ±1, no tanh taken
    assert not saturated or torch.equal(out.abs(), torch.ones_like(out))


@pytest.mark.parametrize("temperature, bound", [(1e-10, 1.0), (1e-10, 0.25), (1e-10, None), (1e-10, 3.0),
                                                (1.0, 1.0), (1e-3, None)])
def test_fused_gradient_scale_is_the_definition_bit_for_bit(temperature, bound):
    lam, factor = _lambdas(), 60_000 * 500.0
    grad = torch.randn(lam.shape, generator=torch.Generator().manual_seed(2)) * 1e-4
    torch.manual_seed(5)
    w = torch.empty_like(lam)
    saturated = relaxed_sample_into(w, lam, temperature)
    scale = natural_gradient_scale(w, lam, temperature)
    if bound is not None:
        scale.clamp_(max=bound)
    reference = torch.zeros_like(lam).addcmul_(scale, grad, value=factor)  # the step as the paper writes it
    assert torch.equal(scaled_gradient(grad, w, lam, saturated, temperature, bound, factor), reference)
    assert saturated_scale_is_bound(temperature, bound) is (temperature == 1e-10 and bound in (1.0, 0.25))


def test_bipolar_sign_of_signed_zeros_and_into_a_tensor():
    x = torch.tensor([-0.0, 0.0, 1e-30, -1e-30, -5.0, 7.0])
    out = torch.empty_like(x)
    assert bipolar_sign(x, out=out) is out and torch.equal(out, torch.tensor([1.0, 1, 1, -1, -1, 1]))


def test_other_groups_take_adam_as_one_tensor_at_a_time_would():
    torch.manual_seed(4)
    a, b = torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.randn(2, 2))
    w = torch.nn.Parameter(torch.ones(4))
    opt = BayesBiNN([{"params": [w], "binary": True}, {"params": [a, b], "lr": 0.01}], train_set_size=5)
    ref = {"a": a.detach().clone(), "b": b.detach().clone()}
    moments = {k: (torch.zeros_like(v), torch.zeros_like(v)) for k, v in ref.items()}
    for step in range(1, 4):
        grads = {"a": torch.randn(3), "b": torch.randn(2, 2)}

        def closure():
            a.grad, b.grad, w.grad = grads["a"].clone(), grads["b"].clone(), torch.zeros(4)
            return torch.tensor(0.0)
        opt.step(closure)
        for k, g in grads.items():  # Adam, written out per tensor
            m, v = moments[k]
            m.mul_(0.9).add_(g, alpha=0.1)
            v.mul_(0.999).addcmul_(g, g, value=0.001)
            ref[k].addcdiv_(m, (v / (1 - 0.999 ** step)).sqrt_().add_(1e-8), value=-0.01 / (1 - 0.9 ** step))
    assert torch.equal(a.detach(), ref["a"]) and torch.equal(b.detach(), ref["b"])


def test_a_restored_posterior_prior_still_pulls():
    # λ₀ = λ (continual learning), saved and restored: the pull term κ(λ - λ₀) must stay in the step
    def fresh():
        w = torch.nn.Parameter(torch.ones(5))
        return w, BayesBiNN([{"params": [w], "binary": True}], train_set_size=10, lr=0.1, temperature=1.0)
    w1, first = fresh()
    first.state[w1]["lam"] = torch.tensor([0.5, -0.2, 1.0, -3.0, 0.1])
    first.use_posterior_as_prior()
    first.state[w1]["lam"] += 0.7
    w2, second = fresh()
    second.load_state_dict(first.state_dict())
    c = torch.tensor([0.1, 0.2, -0.3, 0.4, 0.0])
    for w, opt in ((w1, first), (w2, second)):
        torch.manual_seed(9)
        opt.step(_closure(w, c))
    assert torch.equal(first.state[w1]["lam"], second.state[w2]["lam"])
    w3, zero_prior = fresh()
    zero_prior.state[w3]["lam"] = torch.tensor([0.5, -0.2, 1.0, -3.0, 0.1]) + 0.7
    torch.manual_seed(9)
    zero_prior.step(_closure(w3, c))
    assert not torch.equal(zero_prior.state[w3]["lam"], first.state[w1]["lam"])  # the prior mattered
