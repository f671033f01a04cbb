"""Uncertainty of trained binary networks: ensembles, calibration, out-of-distribution detection.

Contract:
- The ensembles are ``bnn2hw.train.evaluate.ensemble_probs`` (member k is compiled sample k).
- ``settle_map_batchnorm(model, method, latent, data, config)``: the MAP network's batchnorm
  statistics re-estimated on training batches, kept in the model (PBNet's ``settle``).
- ``map_and_ensemble_readouts(model, method, latent, data, config)``: PBNet's read-outs, the
  MAP network as the model holds it and an ensemble whose members re-estimate their own
  statistics.
- ``population_batchnorm(model, method, latent, images, mode_share, seed)``: batchnorm
  statistics for the networks that share them at read-out — the mode network and the
  posterior's samples, which the compiled thresholds of a board ensemble serve alike: the mixture
  (``bnn2hw.train.batchnorm.set_mixture``) of the mode network's statistics (share
  ``mode_share``) and the samples' (``POPULATION_BATCHES`` training batches each; a fresh sample
  per batch, drawn from ``torch.Generator`` seeded with ``seed``). Kept in the model.
- ``auroc(scores_in, scores_out)``: area under the ROC curve for "out-of-distribution has the
  higher score", rank based (Mann–Whitney U with ties counted ½), numpy only.
- ``ood_images(kind, like, seed)``: ``digits`` (sklearn digits, nearest-neighbour upscaled by
  ⌊H/8⌋ and zero-padded to ``like``'s H×W) or ``permuted`` (``like``'s raw pixels, one random
  permutation of pixel positions).
- ``readout_scores(probs, n_in, labels)``: one read-out's metrics over test images followed by
  OOD images (what ``uncertainty.json`` holds per read-out).
- ``reliability_diagram(probs, labels, path)``: accuracy vs confidence in the 15 ECE bins, PNG.
- ``uncertainty_report(run_dir, out_dir, ood=..., samples=..., device="auto")``: for a run directory,
  ``uncertainty.json`` (mode and ensemble acc/NLL/ECE, OOD AUROC from predictive entropy; for
  the ensemble also ``disagreement``, the share of test images whose ensemble label differs
  from the mode network's; for probabilistic methods ``posterior``: ``uncertain_share`` of the
  weights with q(w = +1) in [0.05, 0.95]) and ``reliability.png``; returns the dict. A
  collapsed posterior shows as uncertain_share ≈ 0 and disagreement ≈ 0. The networks run on
  ``device`` (``bnn2hw.train.device``); posterior samples are the same networks on any device.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from bnn2hw.data import load_dataset, load_digits_raw
from bnn2hw.models import BinaryNet
from bnn2hw.train.checkpoint import load_trained
from bnn2hw.train.device import resolve_device
from bnn2hw.train.evaluate import ensemble_probs, member_probs, readout_probs
from bnn2hw.train.method_base import (
    UNCERTAIN_BAND, Method, ReadOut, binary_weights, uncertain_share, use_weights,
)
from bnn2hw.train.metrics import ECE_BINS, classification_metrics, predictive_entropy
from bnn2hw.train.batchnorm import reestimate_batchnorm, running_stats, set_mixture

NEEDS_BN_REESTIMATION = {Method.PBNET, Method.PBNET_S}
POPULATION_BATCHES = 100


def population_batchnorm(model: BinaryNet, method: Method, latent: list[torch.Tensor], images: np.ndarray,
                         mode_share: float, seed: int) -> None:
    """Running stats ← mode network (share ``mode_share``) and posterior samples, mixed."""
    with use_weights(model, binary_weights(method, latent, ReadOut.MODE)):
        reestimate_batchnorm(model, images, batches=POPULATION_BATCHES, seed=seed)
    mode = running_stats(model)
    generator = torch.Generator().manual_seed(seed)

    def fresh_sample(_batch: int) -> use_weights:
        return use_weights(model, binary_weights(method, latent, ReadOut.SAMPLE, generator))
    reestimate_batchnorm(model, images, batches=POPULATION_BATCHES, seed=seed, around_batch=fresh_sample)
    set_mixture(model, [(mode_share, mode), (1.0 - mode_share, running_stats(model))])


def settle_map_batchnorm(model: BinaryNet, method: Method, latent: list[torch.Tensor], data, config) -> None:
    """The MAP network's batchnorm statistics, re-estimated and kept (the checkpoint holds them)."""
    with use_weights(model, binary_weights(method, latent, ReadOut.MODE)):
        reestimate_batchnorm(model, data.x_train, seed=config.seed)


def map_and_ensemble_readouts(model: BinaryNet, method: Method, latent: list[torch.Tensor],
                              data, config) -> dict[str, dict]:
    """PBNet's read-outs: the MAP network and an ensemble whose members re-estimate their own statistics."""
    mode = readout_probs(model, method, latent, ReadOut.MODE, data.x_test)
    results = {"mode": classification_metrics(mode, data.y_test)}
    if config.test_samples > 0:
        probs = ensemble_probs(model, method, latent, data.x_test, config.test_samples, config.seed,
                               bn_images=data.x_train)
        results["ensemble"] = {**classification_metrics(probs, data.y_test), "samples": config.test_samples}
    return results


def auroc(scores_in: np.ndarray, scores_out: np.ndarray) -> float:
    """P(score_out > score_in) + ½ P(equal), from average ranks."""
    scores = np.concatenate([scores_in, scores_out]).astype(np.float64)
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)                     # 1-based rank of the last member of each tie
    ranks = (upper - (counts - 1) / 2.0)[inverse]
    n_in, n_out = len(scores_in), len(scores_out)
    u_out = ranks[n_in:].sum() - n_out * (n_out + 1) / 2.0
    return float(u_out / (n_in * n_out))


def resize_digits(height: int, width: int) -> np.ndarray:
    """sklearn digits (uint8, N×1×8×8) upscaled by ⌊min(H, W)/8⌋ and zero-padded to H×W."""
    images = load_digits_raw()[0]
    factor = max(1, min(height, width) // 8)
    big = images.repeat(factor, axis=2).repeat(factor, axis=3)
    top, left = (height - big.shape[2]) // 2, (width - big.shape[3]) // 2
    out = np.zeros((len(big), big.shape[1], height, width), np.uint8)
    out[:, :, top:top + big.shape[2], left:left + big.shape[3]] = big
    return out


def permute_pixels(images: np.ndarray, permutation: np.ndarray) -> np.ndarray:
    """Raw uint8 images with pixel positions (the same for every channel) permuted."""
    n, c, h, w = images.shape
    return np.ascontiguousarray(images.reshape(n, c, h * w)[:, :, permutation].reshape(n, c, h, w))


def ood_images(kind: str, like: np.ndarray, seed: int = 0) -> np.ndarray:
    if kind == "digits":
        out = resize_digits(*like.shape[2:])
        return np.repeat(out, like.shape[1], axis=1) if like.shape[1] != 1 else out
    if kind == "permuted":
        return permute_pixels(like, np.random.default_rng(seed).permutation(like.shape[2] * like.shape[3]))
    raise ValueError(f"unknown out-of-distribution set {kind!r}: digits or permuted")


def reliability_diagram(probs: np.ndarray, labels: np.ndarray, path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confidence, correct = probs.max(1), probs.argmax(1) == labels
    which = np.clip(np.ceil(confidence * ECE_BINS).astype(int) - 1, 0, ECE_BINS - 1)
    centres = (np.arange(ECE_BINS) + 0.5) / ECE_BINS
    acc = np.array([correct[which == b].mean() if (which == b).any() else 0.0 for b in range(ECE_BINS)])
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.bar(centres, acc, width=1.0 / ECE_BINS, edgecolor="black", alpha=0.7, label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def uncertainty_report(run_dir: Path, out_dir: Path | None = None, ood: str = "digits", samples: int = 10,
                       device: str = "auto") -> dict:
    """Mode and ensemble calibration plus OOD AUROC of a run; writes json and png."""
    target = resolve_device(device)
    ckpt, model = load_trained(run_dir)
    model.to(target)
    cfg = ckpt["config"]
    method, seed = Method(cfg["method"]), int(cfg.get("seed", 0))
    latent = [t.to(target) for t in ckpt["latent"]]
    data = load_dataset(cfg["dataset"], cfg.get("data_dir"), val_fraction=cfg.get("val_split", 0.0), seed=seed)
    outliers = ood_images(ood, data.x_test, seed)
    images = np.concatenate([data.x_test, outliers])
    mode = member_probs(model, binary_weights(method, latent, ReadOut.MODE), images)
    readouts = {"mode": readout_scores(mode, len(data.x_test), data.y_test)}
    if method.probabilistic and samples > 0:
        bn_images = data.x_train if method in NEEDS_BN_REESTIMATION else None
        ens = ensemble_probs(model, method, latent, images, samples, seed, bn_images)
        readouts["ensemble"] = {**readout_scores(ens, len(data.x_test), data.y_test), "samples": samples,
                                "disagreement": disagreement(ens[:len(data.x_test)], mode[:len(data.x_test)])}
    best = "ensemble" if "ensemble" in readouts else "mode"
    out_dir = Path(out_dir or run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    probs = ens if best == "ensemble" else mode
    reliability_diagram(probs[:len(data.x_test)], data.y_test, out_dir / "reliability.png",
                        f"{cfg['model']} / {cfg['dataset']} / {method.value} ({best})")
    report = {"run": str(run_dir), "method": method.value, "ood": ood, "device": str(target), "readouts": readouts}
    if method.probabilistic:
        report["posterior"] = {"uncertain_share": uncertain_share(latent), "band": list(UNCERTAIN_BAND)}
    (out_dir / "uncertainty.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def disagreement(probs: np.ndarray, reference: np.ndarray) -> float:
    """Share of rows whose argmax differs between two sets of predictions."""
    return float(np.mean(probs.argmax(1) != reference.argmax(1))) if len(probs) else 0.0


def readout_scores(probs: np.ndarray, n_in: int, labels: np.ndarray) -> dict:
    """acc/NLL/ECE/entropy of the first ``n_in`` rows (the test split, ``labels``) and the OOD AUROC
    of predictive entropy, the rows after them being the out-of-distribution images."""
    entropy = predictive_entropy(probs)
    return {**classification_metrics(probs[:n_in], labels), "ood_auroc": auroc(entropy[:n_in], entropy[n_in:])}
