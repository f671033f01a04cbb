"""STE baseline: sign forward, straight-through backward, latent weights clipped to [-1, 1]."""

import torch

from bnn2hw.models import BinaryLinear, sign_ste
from bnn2hw.train.ste import STEAdam


def test_sign_forward_and_straight_through_backward():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], requires_grad=True)
    y = sign_ste(x)
    assert torch.equal(y, torch.tensor([-1.0, -1.0, 1.0, 1.0, 1.0]))  # sign(0) = +1
    y.sum().backward()
    assert torch.equal(x.grad, torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0]))


def test_latent_weights_are_clipped_after_each_step():
    layer = BinaryLinear(4, 2)
    layer.weight.data.fill_(0.99)
    opt = STEAdam([{"params": [layer.weight], "binary": True}], lr=0.5)
    x = torch.ones(3, 4)

    def closure():
        opt.zero_grad()
        loss = -layer(x).sum()  # pushes weights up, past +1
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    assert layer.weight.max().item() == 1.0
