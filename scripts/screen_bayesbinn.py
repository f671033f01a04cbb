"""Screening of BayesBiNN settings: train one variant, then compare its read-outs, with and without
batchnorm statistics re-estimated on the mode network.

For each ``NAME=JSON`` variant (TrainConfig options over the benchmark's SFC / Fashion-MNIST,
10 epochs, seed 0) it trains ``OUT/NAME`` (reused when its checkpoint exists) and prints one line
per read-out — acc, NLL, ECE, OOD AUROC (digits), and for ensembles the share of test images
whose label differs from the mode's:

- ``mode``: the mode network with the checkpoint's statistics (what ``compile`` emits: those
  learnt in training, or with ``mode_batchnorm_share`` the mode-and-samples population's);
- ``ensemble``: ``--samples`` posterior samples sharing the checkpoint's statistics (what a board ensemble
  does: only the weights go over AXI-lite);
- ``ensemble-own-bn``: every member re-estimates its own statistics (needs per-sample thresholds);
- ``mode-recal-bn`` / ``ensemble-mode-bn``: statistics re-estimated on the mode network over
  ``RECAL_BATCHES`` training batches, for the mode and shared by the members;
- with ``--shares 0.25,0.5``, ``mode-share-S`` / ``ensemble-share-S`` for each share S: the
  statistics of ``population_batchnorm`` (mode network S, posterior samples 1 − S), shared by
  both, with the run's seed for the population, the ensemble's draws and the OOD images (as the
  run's own read-out and ``bench_methods`` use it).

Usage: PYTHONPATH=. python scripts/screen_bayesbinn.py --out DIR [--samples 20] [--epochs 10]
       [--shares 0.25,0.5] NAME='{"lr": 3e-3, "likelihood_scale": 1000}' ...
The numbers in BENCHMARKS.md ("BayesBiNN posterior", 10-epoch screenings) come from this script.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bnn2hw.data import load_dataset
from bnn2hw.train import TrainConfig, train
from bnn2hw.train.method_base import Method, ReadOut, binary_weights, uncertain_share, use_weights
from bnn2hw.train.batchnorm import reestimate_batchnorm
from bnn2hw.train.checkpoint import load_trained
from bnn2hw.train.evaluate import ensemble_probs, member_probs
from bnn2hw.train.uncertainty import disagreement, ood_images, population_batchnorm, readout_scores

RECAL_BATCHES = 100


def share_rows(model, latent: list, data, samples: int, seed: int, shares: list[float]) -> dict[str, tuple]:
    """Read-outs with the population statistics of each share (the run's seed throughout)."""
    images = np.concatenate([data.x_test, ood_images("digits", data.x_test, seed)])
    mode_weights = binary_weights(Method.BAYESBINN, latent, ReadOut.MODE)
    rows = {}
    for share in shares:
        population_batchnorm(model, Method.BAYESBINN, latent, data.x_train, share, seed)
        mode = member_probs(model, mode_weights, images)
        rows[f"mode-share-{share:g}"] = (mode, None)
        rows[f"ensemble-share-{share:g}"] = (ensemble_probs(model, Method.BAYESBINN, latent, images, samples, seed), mode)
    return rows


def screen(run: Path, samples: int, shares: list[float]) -> dict[str, dict]:
    ckpt, model = load_trained(run)
    latent = list(ckpt["latent"])
    data = load_dataset(ckpt["config"]["dataset"], None, val_fraction=ckpt["config"]["val_split"], seed=0)
    images = np.concatenate([data.x_test, ood_images("digits", data.x_test, 0)])
    mode_weights = binary_weights(Method.BAYESBINN, latent, ReadOut.MODE)
    mode = member_probs(model, mode_weights, images)

    def ensemble(bn_images=None):  # generator seed 0: the draws of a seed-0 run's uncertainty report
        return ensemble_probs(model, Method.BAYESBINN, latent, images, samples, 0, bn_images)
    rows = {"mode": (mode, None), "ensemble": (ensemble(), mode), "ensemble-own-bn": (ensemble(data.x_train), mode)}
    with use_weights(model, mode_weights):
        reestimate_batchnorm(model, data.x_train, batches=RECAL_BATCHES, seed=0)
    recal = member_probs(model, mode_weights, images)
    rows.update({"mode-recal-bn": (recal, None), "ensemble-mode-bn": (ensemble(), recal)})
    run_seed = int(ckpt["config"]["seed"])
    if run_seed != 0:  # the rows above use seed 0's data split; the share rows use the run's
        data = load_dataset(ckpt["config"]["dataset"], None, val_fraction=ckpt["config"]["val_split"], seed=run_seed)
    rows.update(share_rows(model, latent, data, samples, run_seed, shares))
    n = len(data.x_test)
    out = {"in_band": uncertain_share(latent)}
    for name, (probs, reference) in rows.items():
        out[name] = readout_scores(probs, n, data.y_test)
        if reference is not None:
            out[name]["disagreement"] = disagreement(probs[:n], reference[:n])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", help="NAME=JSON of TrainConfig options")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--shares", type=lambda t: [float(x) for x in t.split(",")], default=[],
                        help="mode_batchnorm_share values to read out with (comma-separated)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for variant in args.variants:
        name, _, options = variant.partition("=")
        run = args.out / name
        if not (run / "checkpoint.pt").is_file():
            start = time.perf_counter()
            config = TrainConfig(**{"model": "sfc", "dataset": "fashion-mnist", "epochs": args.epochs,
                                    "test_samples": 0, "seed": 0, **json.loads(options or "{}")})
            train(config, run, progress=False, log=lambda _: None)
            print(f"{name}: trained in {time.perf_counter() - start:.0f} s", flush=True)
        result = screen(run, args.samples, args.shares)
        print(f"{name}: {100 * result.pop('in_band'):.1f} % of the weights in [0.05, 0.95]")
        for readout, r in result.items():
            extra = f" ≠mode {r['disagreement']:.3f}" if "disagreement" in r else ""
            print(f"  {readout:18s} acc {r['acc']:.4f} NLL {r['nll']:.4f} ECE {r['ece']:.4f} "
                  f"AUROC {r['ood_auroc']:.4f}{extra}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
