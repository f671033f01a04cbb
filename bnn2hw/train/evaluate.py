"""Test-time prediction of a trained binary network, for every read-out.

Contract: ``predict_probs`` runs a model in eval mode on uint8 images and returns softmax
probabilities as numpy. ``member_probs(model, weights, images, bn_images=None, seed=0)`` is one
binary network's softmax, with its own batchnorm statistics re-estimated on ``bn_images`` when
given (the model's own are restored afterwards). ``ensemble_probs(model, method, latent, images,
samples, seed, bn_images=None)`` averages ``samples`` Bernoulli networks drawn in the order of
``compile_run(sample=k)`` (one ``torch.Generator`` seeded with ``seed``; member k is compiled
sample k, its batchnorm batches seeded by ``member_bn_seed(seed, k)``: PBNet).
``evaluate_readouts`` gives metrics (acc, nll, ece, entropy) for the posterior mode (the
hardware network), the mean (BayesBiNN) and an ensemble of K samples (K >= 1). Images go to the
model's device batch by batch; probabilities come back as numpy.
"""

from __future__ import annotations

import numpy as np
import torch

from bnn2hw.models import BinaryNet
from bnn2hw.train.batchnorm import reestimate_batchnorm
from bnn2hw.train.device import device_of
from bnn2hw.train.method_base import Method, ReadOut, binary_weights, use_weights
from bnn2hw.train.metrics import classification_metrics

EVAL_BATCH = 1000


@torch.no_grad()
def predict_probs(model: BinaryNet, images: np.ndarray, batch_size: int = EVAL_BATCH) -> np.ndarray:
    was_training, device = model.training, device_of(model)
    model.eval()
    chunks = [torch.softmax(model(torch.from_numpy(images[i:i + batch_size]).to(device)), dim=1).cpu()
              for i in range(0, len(images), batch_size)]
    model.train(was_training)
    return torch.cat(chunks).double().numpy()


def readout_probs(model: BinaryNet, method: Method, latent: list[torch.Tensor], readout: ReadOut,
                  images: np.ndarray, generator: torch.Generator | None = None) -> np.ndarray:
    with use_weights(model, binary_weights(method, latent, readout, generator)):
        return predict_probs(model, images)


def member_bn_seed(run_seed: int, k: int) -> int:
    """Seed of member k's batchnorm re-estimation batches (compiled sample k uses it too)."""
    return run_seed + k


def _bn_state(model: BinaryNet) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if "running_" in k or "num_batches" in k}


def member_probs(model: BinaryNet, weights: list[torch.Tensor], images: np.ndarray,
                 bn_images: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Softmax of one binary network, with its own batchnorm statistics if ``bn_images``."""
    saved = _bn_state(model) if bn_images is not None else None
    with use_weights(model, weights):
        if bn_images is not None:
            reestimate_batchnorm(model, bn_images, seed=seed)
        probs = predict_probs(model, images)
    if saved is not None:
        model.load_state_dict(saved, strict=False)
    return probs


def ensemble_probs(model: BinaryNet, method: Method, latent: list[torch.Tensor], images: np.ndarray,
                   samples: int, seed: int, bn_images: np.ndarray | None = None) -> np.ndarray:
    """Average softmax over ``samples`` Bernoulli networks drawn from the posterior."""
    generator = torch.Generator().manual_seed(seed)
    total = np.zeros((len(images), model.config.num_classes))
    for k in range(samples):
        weights = binary_weights(method, latent, ReadOut.SAMPLE, generator)
        total += member_probs(model, weights, images, bn_images, seed=member_bn_seed(seed, k))
    return total / samples


def evaluate_readouts(model: BinaryNet, method: Method, latent: list[torch.Tensor], images: np.ndarray,
                      labels: np.ndarray, ensemble_samples: int, seed: int) -> dict[str, dict]:
    results = {"mode": classification_metrics(readout_probs(model, method, latent, ReadOut.MODE, images), labels)}
    if Method(method).probabilistic:
        results["mean"] = classification_metrics(
            readout_probs(model, method, latent, ReadOut.MEAN, images), labels)
        if ensemble_samples > 0:
            probs = ensemble_probs(model, method, latent, images, ensemble_samples, seed)
            results["ensemble"] = {**classification_metrics(probs, labels), "samples": ensemble_samples}
    return results
