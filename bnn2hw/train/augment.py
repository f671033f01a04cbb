"""Data augmentation on the device, on raw uint8 images: random crop with padding and horizontal flip.

What the Brevitas ``bnn_pynq`` trainer and the BayesBiNN CIFAR-10 code do with torchvision
(``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip()``): pad each image with ``PAD`` zero
pixels on every side, cut out an H×W window at a random offset (dy, dx) ∈ [0, 2·PAD]², and mirror
it left-right with probability ½. The images stay uint8, so the network (and the hardware after
it) sees raw bytes, as at test time.

Contract: ``epoch_augmentation(n, seed, epoch)`` draws, from a CPU generator seeded by (seed,
epoch), the offsets (n, 2) and flips (n,) of every training image for one epoch, indexed by
image; a batch takes its rows, so every rank of a data-parallel run, and a run at any world size,
augments an image alike. ``augment_batch(images, offsets, flips)`` applies them on the images'
device in one gather.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PAD = 4
_SEED_SALT = 7_919  # keeps the augmentation stream apart from the batch-order stream of the same epoch


def epoch_augmentation(n: int, seed: int, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(offsets int64 (n, 2) in [0, 2·PAD], flips bool (n,)) of one epoch."""
    generator = torch.Generator().manual_seed((seed * 100_003 + epoch) * _SEED_SALT + 1)
    offsets = torch.randint(0, 2 * PAD + 1, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    return offsets, flips


def augment_batch(images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, pad: int = PAD) -> torch.Tensor:
    """uint8 (B, C, H, W) images, each padded by ``pad`` zeros, cropped at its offset and maybe mirrored."""
    b, c, h, w = images.shape
    device = images.device
    offsets, flips = offsets.to(device), flips.to(device)
    padded = F.pad(images, (pad, pad, pad, pad))
    rows = offsets[:, 0:1] + torch.arange(h, device=device)                      # (B, H)
    across = torch.arange(w, device=device)
    cols = offsets[:, 1:2] + torch.where(flips[:, None], w - 1 - across, across)  # (B, W)
    batch = torch.arange(b, device=device)[:, None, None, None]
    channel = torch.arange(c, device=device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]
