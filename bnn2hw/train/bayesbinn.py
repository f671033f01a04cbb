"""BayesBiNN: the Bayesian learning rule for binary weights (Meng, Bachmann & Khan, ICML 2020).

Each binary weight w ∈ {-1, +1} has a mean-field Bernoulli posterior
q(w = +1) = sigmoid(2λ), with natural parameter λ and mean μ = tanh λ. One step, with
learning rate α, training-set size N, temperature τ and S Monte-Carlo samples:

    ε ~ U(0, 1),  δ = ½ log(ε / (1 - ε)),  w_s = tanh((λ + δ) / τ)     (concrete relaxation)
    g_s = ∇_w ℓ(w_s)                                                     (minibatch mean loss)
    ĝ   = N / S · Σ_s  g_s ⊙ (1 - w_s²) / (τ (1 - μ²))
    m   ← β m + (1 - β) (ĝ + κ (λ - λ₀))                                 (κ: KL weight, 1)
    λ   ← λ - α m / (1 - β^t)                                            (Adam-style bias correction)

λ₀ is the prior's natural parameter: 0 (a uniform prior) by default, the previous task's
posterior in continual learning (``use_posterior_as_prior``). As in the authors' code,
1e-10 is added to both 1 - w² and 1 - μ² so that a saturated sample still carries gradient.
After a step every binary parameter holds sign(λ), the posterior mode (sign(0) = +1).

Why the paper's posterior collapses. With τ = 1e-10 every relaxed sample is saturated
(w² = 1 in float32), so the scale is (1e-10) / (1e-10 (1 - μ² + 1e-10)) = 1/(1 - μ²) = cosh²λ,
and exactly 1e10 once |λ| > 9 (1 - μ² rounds to 0). In μ = tanh λ the step is then
μ ← μ - α N g (STE on the mean, clipped at ±1), while the prior's pull κ(λ - λ₀) acts on λ,
where it is negligible against α N g cosh²λ: |λ| runs to 1e5–1e9 and q(w = +1) to exactly 0 or 1.
Tempering the likelihood alone (N → sN) does not stop it: sN|g| cosh²λ outgrows |λ| for any
weight with a consistent gradient (measured: s = 1e-3 still leaves 2 % of the weights in
[0.05, 0.95]). Three extra settings, all off in the ``paper`` preset (``bnn2hw.train.presets``):

    ĝ ← s ĝ                       likelihood_scale s: a tempered posterior ∝ p(D|w)^s p(w) (s > 1: cold)
    scale ← min(scale, c)         scale_bound c: with c = 1 the step is λ ← λ - α(s N g + κ(λ - λ₀)),
                                  a linear recursion whose fixed point is λ* = λ₀ - s N E[g] / κ
    λ ← clip(λ, -b, b)            lambda_bound b

With c = 1 the step no longer grows with |λ|, so the learning rate must be larger than the
paper's, and λ settles near λ* = −sN E[g]: a weight whose gradient is consistent saturates,
one whose gradient averages out keeps |λ| ≲ 1.5, i.e. q(w = +1) in [0.05, 0.95]. The
per-weight gradients of these networks are small (median sN|E[g]| ≈ 0.01 at s = 1 on SFC /
Fashion-MNIST), so the untempered posterior is nearly uniform and its samples are poor
networks; a cold likelihood (s ≫ 1) makes most weights certain and leaves a minority uncertain.
That minority must stay small: batchnorm statistics are learnt on samples, and the mode network
(what goes to hardware, whose thresholds board ensembles share) drifts from them as more weights
are uncertain. The rate sets how long λ remembers: λ ← (1 - α)λ - α s N g averages the gradient
over about 1/α steps, so a smaller α gives a less noisy estimate of E[g] (a better mode network)
and s sets how many weights stay uncertain. The ``calibrated`` preset (c = 1, s = 500,
α = 3e-3) keeps about 21 % of SFC's weights in [0.05, 0.95] (Fashion-MNIST, 10 epochs) with the
mode network near STE's; the screening runs (``scripts/screen_bayesbinn.py``) and the benchmark
are in BENCHMARKS.md ("BayesBiNN posterior").

Batchnorm statistics. Training's running statistics follow the samples of the last steps; the
mode network (sign λ, no uncertain weight flipped) computes differently, and re-estimating the
statistics on it alone lifts its accuracy but costs the ensemble, whose members share the
compiled thresholds on the board. The preset's ``mode_batchnorm_share`` (0.5) sets them after
training to the mixture moments of the two populations that use them, half mode network and half
fresh posterior samples (``bnn2hw.train.uncertainty.population_batchnorm``): mode and ensemble
keep sharing one set of statistics, and so one set of thresholds. The more weights stay
uncertain (smaller s), the larger the share the mode network needs (s = 1000: a quarter).

Parameter groups: a group with ``binary=True`` follows the rule above and its tensors must be
the ``weight`` of binary layers read without sign (``binarize_weights=False``). Every other
group (batchnorm affine, output scale) is updated by Adam with the same sampled gradients,
averaged over samples. ``step`` needs a closure that zeroes the gradients, runs the forward
and backward pass on the current weights and returns the loss.

Constructor defaults are the authors' MNIST settings (team-approx-bayes/BayesBiNN,
main_mnist.py): λ initialised to ±10 with the sign of the layer's initial weight, τ = 1e-10,
one training sample, zero prior, β = 0, κ = 1, s = 1, no bounds; the training loop applies the
paper's cosine schedule to the learning rate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch.optim import Optimizer

from bnn2hw.train.bayesbinn_kernels import (  # noqa: F401  (the kernels are read from here too)
    SATURATION_EPS, bernoulli_sample, bipolar_sign, natural_gradient_scale, relaxed_sample, relaxed_sample_into,
    saturation, scaled_gradient,
)


class BayesBiNN(Optimizer):
    """Bayesian learning rule for the ``binary=True`` group, Adam for the others."""

    def __init__(
        self,
        params: Iterable,
        train_set_size: int,
        lr: float = 1e-4,
        temperature: float = 1e-10,
        mc_samples: int = 1,
        momentum: float = 0.0,
        lambda_init: float = 10.0,
        kl_weight: float = 1.0,
        likelihood_scale: float = 1.0,
        lambda_bound: float | None = None,
        scale_bound: float | None = None,
        adam_betas: tuple[float, float] = (0.9, 0.999),
        adam_eps: float = 1e-8,
    ):
        if train_set_size < 1:
            raise ValueError(f"train_set_size must be >= 1, got {train_set_size}")
        if temperature <= 0 or mc_samples < 1 or not 0.0 <= momentum < 1.0 or lr <= 0:
            raise ValueError(
                f"need temperature > 0, mc_samples >= 1, 0 <= momentum < 1, lr > 0; got "
                f"{temperature}, {mc_samples}, {momentum}, {lr}")
        if likelihood_scale <= 0 or any(b is not None and b <= 0 for b in (lambda_bound, scale_bound)):
            raise ValueError(f"need likelihood_scale > 0, lambda_bound and scale_bound > 0 (or None); got "
                             f"{likelihood_scale}, {lambda_bound}, {scale_bound}")
        defaults = dict(lr=lr, binary=False, temperature=temperature, momentum=momentum,
                        kl_weight=kl_weight, lambda_bound=lambda_bound, scale_bound=scale_bound,
                        adam_betas=adam_betas, adam_eps=adam_eps)
        super().__init__(params, defaults)
        self.train_set_size = int(train_set_size)
        self.likelihood_scale = float(likelihood_scale)
        self.mc_samples = int(mc_samples)
        start = lambda_init if lambda_bound is None else min(lambda_init, lambda_bound)
        for p in self.binary_params():
            state = self.state[p]
            state["lam"] = start * bipolar_sign(p.detach())
            state["prior_lam"] = torch.zeros_like(p)
            state["momentum"] = torch.zeros_like(p)
            state["step"] = 0
            bipolar_sign(state["lam"], out=p.data)

    def binary_params(self) -> list[torch.Tensor]:
        return [p for g in self.param_groups if g["binary"] for p in g["params"]]

    def natural_parameters(self) -> list[torch.Tensor]:
        """λ of every binary parameter, in ``binary_params`` order."""
        return [self.state[p]["lam"] for p in self.binary_params()]

    def use_posterior_as_prior(self) -> None:
        """Continual learning: λ₀ ← λ, so the next task is regularised towards this posterior."""
        for p in self.binary_params():
            self.state[p]["prior_lam"] = self.state[p]["lam"].clone()

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        if closure is None:
            raise RuntimeError("BayesBiNN.step needs a closure that returns the loss")
        sums, losses = None, []
        for _ in range(self.mc_samples):
            saturated = self._write_relaxed_samples()
            with torch.enable_grad():
                losses.append(closure().detach())
            estimates = self._gradient_estimates(saturated)
            sums = estimates if sums is None else {p: sums[p].add_(g) for p, g in estimates.items()}
        for group in self.param_groups:
            grads = [sums[p] if self.mc_samples == 1 else sums[p].div_(self.mc_samples) for p in group["params"]]
            if group["binary"]:
                for p, grad_hat in zip(group["params"], grads):
                    self._binary_update(p, grad_hat, group)
            else:
                self._adam_update(group["params"], grads, group)
        return losses[0] if self.mc_samples == 1 else torch.stack(losses).mean()

    def _write_relaxed_samples(self) -> dict[torch.Tensor, bool]:
        """Every binary weight ← a relaxed sample; whether each sample is saturated (all ±1)."""
        return {p: relaxed_sample_into(p.data, self.state[p]["lam"], group["temperature"])
                for group in self.param_groups if group["binary"] for p in group["params"]}

    def _gradient_estimates(self, saturated: dict) -> dict[torch.Tensor, torch.Tensor]:
        """This sample's ĝ of every binary weight and gradient of every other parameter (new tensors)."""
        factor = self.train_set_size * self.likelihood_scale
        estimates = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:  # a parameter this loss does not reach still takes its update
                    estimates[p] = torch.zeros_like(p)
                elif group["binary"]:
                    estimates[p] = scaled_gradient(p.grad, p.data, self.state[p]["lam"], saturated[p],
                                                   group["temperature"], group["scale_bound"], factor)
                else:
                    estimates[p] = p.grad.clone()
        return estimates

    def _binary_update(self, p: torch.Tensor, grad_hat: torch.Tensor, group: dict) -> None:
        state, beta = self.state[p], group["momentum"]
        state["step"] += 1
        # m ← β m + (1 - β)(ĝ + κ(λ - λ₀)), in place (with β = 0, m is ĝ's own tensor).
        pull = (1.0 - beta) * group["kl_weight"]
        momentum = grad_hat if beta == 0 else state["momentum"].mul_(beta).add_(grad_hat, alpha=1.0 - beta)
        momentum.add_(state["lam"], alpha=pull).sub_(state["prior_lam"], alpha=pull)
        state["momentum"] = momentum
        state["lam"].sub_(momentum, alpha=group["lr"] / (1.0 - beta ** state["step"]))
        if group["lambda_bound"] is not None:
            state["lam"].clamp_(-group["lambda_bound"], group["lambda_bound"])
        bipolar_sign(state["lam"], out=p.data)

    def _adam_update(self, params: list[torch.Tensor], grads: list[torch.Tensor], group: dict) -> None:
        """Adam on the group's tensors at once (torch's _foreach kernels: the same element-wise
        formulas as one tensor at a time, without a Python loop over batchnorm's small tensors;
        the group's tensors are updated together, so they share one step count)."""
        if not params:
            return
        for p in params:
            if not self.state[p]:
                self.state[p].update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
            self.state[p]["step"] += 1
        (b1, b2), step = group["adam_betas"], self.state[params[0]]["step"]
        exp_avg = [self.state[p]["exp_avg"] for p in params]
        exp_avg_sq = [self.state[p]["exp_avg_sq"] for p in params]
        torch._foreach_mul_(exp_avg, b1)
        torch._foreach_add_(exp_avg, grads, alpha=1 - b1)
        torch._foreach_mul_(exp_avg_sq, b2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, value=1 - b2)
        denom = torch._foreach_div(exp_avg_sq, 1 - b2 ** step)
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, group["adam_eps"])
        torch._foreach_addcdiv_([p.data for p in params], exp_avg, denom, value=-group["lr"] / (1 - b1 ** step))
