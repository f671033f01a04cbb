"""Straight-through-estimator baseline (BinaryConnect / BinaryNet, Courbariaux et al. 2015/2016).

Binary layers keep real latent weights W; the forward uses sign(W) (sign(0) = +1) and the
backward passes the gradient straight through where |W| <= 1 (``bnn2hw.models.sign_ste``).
Every parameter is updated by Adam; after each step the latent weights of the
``binary=True`` group are clipped to [-1, 1], so that a weight that has saturated can
still flip back. This is how FINN's BNN-PYNQ networks are trained.
"""

from __future__ import annotations

import torch


class ClippedAdam(torch.optim.Adam):
    """Adam, then the tensors of ``binary=True`` groups clipped to [-clip, clip]."""

    def __init__(self, params, lr: float = 1e-3, clip: float = 1.0, **kwargs):
        super().__init__(params, lr=lr, **kwargs)
        self.clip = float(clip)
        for group in self.param_groups:
            group.setdefault("binary", False)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        super().step()
        for group in self.param_groups:
            if group["binary"]:
                for p in group["params"]:
                    p.clamp_(-self.clip, self.clip)
        return loss


class STEAdam(ClippedAdam):
    """Adam, then latent weights of ``binary=True`` groups clipped to [-1, 1]."""

    def __init__(self, params, lr: float = 1e-3, **kwargs):
        super().__init__(params, lr=lr, clip=1.0, **kwargs)
