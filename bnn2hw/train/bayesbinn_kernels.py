"""The element-wise kernels of BayesBiNN's step (``bnn2hw.train.bayesbinn``): the formulas as
written in the paper, and the fused forms the optimizer runs.

Contract:
- ``relaxed_sample``, ``saturation`` and ``natural_gradient_scale`` are the definitions:
  w = tanh((λ + δ)/τ) with δ = ½ logit(ε), and (1 - w² + 1e-10) / (τ (1 - tanh²λ + 1e-10)).
- ``relaxed_sample_into(out, λ, τ)`` writes the same sample into ``out`` (the binary layer's
  weight) from the same draws of the generator, bit for bit, and returns True when every element
  is saturated: |(λ + δ)/τ| >= ``TANH_SATURATES``, where float32 tanh is exactly ±1 (checked over
  every float32 in [8, 40) and beyond in the tests), so ``out`` is sign((λ + δ)/τ) with no tanh.
  With the presets' τ = 1e-10 that is every step but with odds of about 1e-9 per weight.
- ``scaled_gradient(grad, w, λ, saturated, τ, bound, factor)`` is ĝ = factor · min(scale, bound)
  ⊙ grad (no min when ``bound`` is None), bit for bit the definition's addcmul. When the sample is
  saturated and every saturated scale is at least ``bound`` (``saturated_scale_is_bound``:
  ε / τ >= bound in float32, true for the calibrated preset's τ = 1e-10 and bound 1), that is
  (factor · bound) · grad, with no tanh λ; otherwise the definition over the whole tensor.
- ``bipolar_sign(x)``: +1 where x >= 0, else -1 (sign(±0) = +1; NaN stays NaN).

Why fused: at SFC's size the definitions cost about as much as the forward pass: two tanh, a
logit and some thirty element-wise passes per binary tensor and step, several of them on bool
tensors, which torch's CPU kernels do not vectorise. The bench's bar is BayesBiNN at no more than
1.1× STE's time per epoch (BENCHMARKS.md, "Training at scale").
"""

from __future__ import annotations

from functools import lru_cache

import torch

from bnn2hw.models.layers import bipolar

SATURATION_EPS = 1e-10  # the authors' regulariser of 1 - w² and 1 - μ²
TANH_SATURATES = 10.0  # float32 tanh(x) == ±1 exactly for |x| >= 9.0108; 10 keeps a margin


def bipolar_sign(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """+1 where x >= 0, else -1 (sign(±0) = +1), into ``out`` when given: ``bnn2hw.models.layers.bipolar``."""
    return bipolar(x, out=out)


def relaxed_sample(lam: torch.Tensor, temperature: float) -> torch.Tensor:
    """One concrete (Gumbel-softmax) sample tanh((λ + δ)/τ), δ = ½ log(ε/(1-ε))."""
    delta = torch.rand_like(lam).logit_().mul_(0.5)
    return delta.add_(lam).div_(temperature).tanh_()


def relaxed_sample_into(out: torch.Tensor, lam: torch.Tensor, temperature: float) -> bool:
    """``out`` ← relaxed_sample(λ, τ); True when every element is saturated (exactly ±1)."""
    # λ + ½·logit(ε) in one pass rounds as δ + λ does: halving is exact.
    shifted = torch.rand_like(lam).logit_()
    shifted = torch.add(lam, shifted, alpha=0.5, out=shifted)
    # |λ + δ| >= 10τ(1 + 1e-6) keeps |(λ + δ)/τ| >= 10 after rounding: tanh is ±1 there, as is sign
    if shifted.numel() and float(shifted.abs().amin()) >= TANH_SATURATES * temperature * (1 + 1e-6):
        torch.sign(shifted, out=out)
        return True
    torch.tanh(shifted.div_(temperature), out=out)
    return False


def bernoulli_sample(lam: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Exact ±1 sample of the posterior: +1 with probability sigmoid(2λ) = (1 + tanh λ) / 2; the
    uniforms come from ``generator`` (or torch's global one) on the CPU, whatever λ's device."""
    p_plus = torch.sigmoid(2.0 * lam)
    uniform = torch.rand(lam.shape, generator=generator).to(lam.device)
    return (uniform < p_plus).to(lam.dtype).mul_(2).sub_(1)


def saturation(lam: torch.Tensor) -> torch.Tensor:
    """1 - μ² + 1e-10 with μ = tanh λ: the denominator of the natural-gradient scale."""
    mu = torch.tanh(lam)
    # 1 + 1e-10 rounds to 1 in float32: subtract first, then add the regulariser.
    return torch.addcmul(torch.ones_like(lam), mu, mu, value=-1.0).add_(SATURATION_EPS)


def natural_gradient_scale(w: torch.Tensor, lam: torch.Tensor, temperature: float,
                           lam_saturation: torch.Tensor | None = None) -> torch.Tensor:
    """(1 - w²) / (τ (1 - μ²)) with the authors' 1e-10 regularisers, μ = tanh λ."""
    if lam_saturation is None:
        lam_saturation = saturation(lam)
    numerator = torch.addcmul(torch.ones_like(w), w, w, value=-1.0).add_(SATURATION_EPS)
    return numerator.div_(lam_saturation).div_(temperature)


@lru_cache(maxsize=64)
def saturated_scale_is_bound(temperature: float, bound: float | None) -> bool:
    """True when min(scale, bound) = bound for every saturated sample (w² = 1): its scale is
    ε / (1 - μ² + ε) / τ, smallest at μ = 0 where the denominator rounds to 1."""
    if bound is None:
        return False
    smallest = torch.tensor([SATURATION_EPS]).div_(1.0).div_(temperature)
    return bool(smallest.clamp_(max=bound).item() == torch.tensor([bound]).item())


def scaled_gradient(grad: torch.Tensor, w: torch.Tensor, lam: torch.Tensor, saturated: bool,
                    temperature: float, bound: float | None, factor: float) -> torch.Tensor:
    """ĝ = factor · min(scale, bound) ⊙ grad, a new tensor (``saturated``: from ``relaxed_sample_into``)."""
    if saturated and saturated_scale_is_bound(temperature, bound):
        # (factor · bound) rounded to float32 first, as addcmul's value · scale would be
        both = (torch.tensor(factor, dtype=grad.dtype) * torch.tensor(bound, dtype=grad.dtype)).item()
        return grad.mul(both)
    scale = natural_gradient_scale(w, lam, temperature)
    if bound is not None:
        scale.clamp_(max=bound)
    return scale.mul_(factor).mul_(grad)
