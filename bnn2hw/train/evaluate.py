"""Test-time prediction of a trained binary network, for every read-out.

Contract: ``predict_probs`` runs a model in eval mode on uint8 images and returns softmax
probabilities as numpy. ``evaluate_readouts`` gives metrics (acc, nll, ece, entropy) for
the posterior mode (the hardware network), the mean (BayesBiNN) and an ensemble of K
Bernoulli samples whose softmax probabilities are averaged (BayesBiNN, K >= 1).
"""

from __future__ import annotations

import numpy as np
import torch

from bnn2hw.models import BinaryNet
from bnn2hw.train.methods import METHODS, Method, ReadOut, binary_weights, use_weights
from bnn2hw.train.metrics import classification_metrics

EVAL_BATCH = 1000


@torch.no_grad()
def predict_probs(model: BinaryNet, images: np.ndarray, batch_size: int = EVAL_BATCH) -> np.ndarray:
    was_training = model.training
    model.eval()
    chunks = [torch.softmax(model(torch.from_numpy(images[i:i + batch_size])), dim=1)
              for i in range(0, len(images), batch_size)]
    model.train(was_training)
    return torch.cat(chunks).double().numpy()


def readout_probs(model: BinaryNet, method: Method, latent: list[torch.Tensor], readout: ReadOut,
                  images: np.ndarray, generator: torch.Generator | None = None) -> np.ndarray:
    with use_weights(model, binary_weights(method, latent, readout, generator)):
        return predict_probs(model, images)


def ensemble_probs(model: BinaryNet, method: Method, latent: list[torch.Tensor], images: np.ndarray,
                   samples: int, seed: int) -> np.ndarray:
    """Average softmax over ``samples`` Bernoulli networks drawn from the posterior."""
    generator = torch.Generator().manual_seed(seed)
    total = np.zeros((len(images), model.config.num_classes))
    for _ in range(samples):
        total += readout_probs(model, method, latent, ReadOut.SAMPLE, images, generator)
    return total / samples


def evaluate_readouts(model: BinaryNet, method: Method, latent: list[torch.Tensor], images: np.ndarray,
                      labels: np.ndarray, ensemble_samples: int, seed: int) -> dict[str, dict]:
    results = {"mode": classification_metrics(readout_probs(model, method, latent, ReadOut.MODE, images), labels)}
    if METHODS[Method(method)].probabilistic:
        results["mean"] = classification_metrics(
            readout_probs(model, method, latent, ReadOut.MEAN, images), labels)
        if ensemble_samples > 0:
            probs = ensemble_probs(model, method, latent, images, ensemble_samples, seed)
            results["ensemble"] = {**classification_metrics(probs, labels), "samples": ensemble_samples}
    return results
