"""``bnn2hw train`` (single runs and continual sequences) and ``bnn2hw uncertainty``: their
options, and what they print.

``bnn2hw train --nproc N ...`` hands the same command line (without ``--nproc``) to torchrun's
launcher (``torch.distributed.run``, ``--standalone --nproc-per-node N``) after checking the
options here, so a bad option is refused once, with exit 2; the launcher's own exit is returned
(130 when interrupted). Under torchrun (or ``--nproc``) rank 0 alone prints. SIGTERM stops
training like Ctrl-C: the checkpoint of the last finished epoch stays, exit 130.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from pathlib import Path

from bnn2hw import pipeline
from bnn2hw.data import DATASETS
from bnn2hw.errors import EXIT_INTERRUPTED
from bnn2hw.train import Method
from bnn2hw.train.device import DEVICE_CHOICES
from bnn2hw.train.presets import DEFAULT_PRESET, PRESETS
from bnn2hw.train.recipes import RECIPES


# (flag, TrainConfig field, type, help); a flag left out keeps the config's default.
TRAIN_OPTIONS = [
    ("--model", "model", str, "tfc, sfc, lfc, cnv or mlp:W1,W2,... (default tfc)"),
    ("--dataset", "dataset", str, f"one of {', '.join(DATASETS)} (default digits)"),
    ("--method", "method", str, f"one of {', '.join(m.value for m in Method)} (default bayesbinn)"),
    ("--epochs", "epochs", int, "training epochs (default 20)"),
    ("--lr", "lr", float, "learning rate of the binary weights (default: the method's)"),
    ("--batch-size", "batch_size", int, "minibatch size (default 100)"),
    ("--seed", "seed", int, "random seed (default 0)"),
    ("--input-bits", "input_bits", int, "1: pixel >= 128 is +1; 8: raw integer pixels (default 1)"),
    ("--preset", "preset", str, f"BayesBiNN settings by name: {', '.join(PRESETS)} (default {DEFAULT_PRESET}); "
                                "the options below change one setting of it"),
    ("--temperature", "temperature", float, "BayesBiNN relaxation temperature (presets: 1e-10)"),
    ("--mc-samples", "mc_samples", int, "BayesBiNN Monte-Carlo samples per step (presets: 1)"),
    ("--momentum", "momentum", float, "BayesBiNN momentum on λ (presets: 0)"),
    ("--likelihood-scale", "likelihood_scale", float, "BayesBiNN: N of the likelihood times this (tempering)"),
    ("--scale-bound", "scale_bound", float, "BayesBiNN: cap of the natural-gradient scale (1-w²)/(τ(1-μ²))"),
    ("--mode-batchnorm-share", "mode_batchnorm_share", float,
     "BayesBiNN: after training, batchnorm statistics of the mode network (this share, 0..1) mixed with the "
     "posterior samples' (the rest), shared by mode and ensemble (preset calibrated: 0.5)"),
    ("--test-samples", "test_samples", int, "K posterior samples in the test ensemble (default 10)"),
    ("--val-split", "val_split", float, "fraction of the training set held out (default 0.1)"),
    ("--data-dir", "data_dir", str, "directory with the data set's files"),
    ("--init", "init", str, "trained run to start from: lns fine-tunes it (needed); pbnet / pbnet-s "
                            "transfer its real weights (θ = W/std clipped to ±0.9); ste continues it"),
    ("--pbnet-loss", "pbnet_loss", str, "PBNet loss: ce (default), cross-entropy of the mean logits, or bce, the paper's per-class binary cross-entropy of P(score ≥ 0)"),
    ("--lns-noise-rate", "lns_noise_rate", float, "LNS flip rate ρ of the noisy binary labels (default 0.1)"),
    ("--lns-weight", "lns_weight", float, "LNS weight β of the noisy-supervision loss (default 0.1)"),
    ("--device", "device", str, f"{', '.join(DEVICE_CHOICES)}: where training runs (default auto: a GPU when "
                                "torch sees one); checkpoints hold CPU tensors either way"),
    ("--lr-schedule", "lr_schedule", str, "cosine (default) or step:E:F, the rate times F every E epochs"),
]


def add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a binary network")
    for flag, _field, typ, text in TRAIN_OPTIONS:
        p.add_argument(flag, type=typ, default=None, help=text)
    p.add_argument("--out", type=Path, required=True, help="run directory (checkpoint.pt, metrics.json, curves.png)")
    p.add_argument("--resume", action="store_true", help="continue the run (or --continual sequence) stored in --out")
    p.add_argument("--force", action="store_true", help="replace the run already in --out")
    p.add_argument("--continual", default=None, metavar="KIND:T",
                   help="continual learning on T tasks (permuted:5 or split:5), BayesBiNN against STE")
    p.add_argument("--continual-preset", choices=("binary", "authors"), default="binary",
                   help="binary (default): the hardware-ready network, τ 1e-2, BayesBiNN lr 1e-2, batchnorm "
                        "without affine parameters; authors: the official experiment (784-100-100-10 with ReLU "
                        "activations, not compilable; τ 1e-2, lr 1e-3, 100 epochs per task, 100-sample predictive)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random crop (4-pixel zero padding) and horizontal flip of the uint8 training images, "
                        "on the device (default: on for cifar10, off elsewhere)")
    p.add_argument("--recipe", choices=sorted(RECIPES), default=None,
                   help="published training settings (Brevitas bnn_pynq, BayesBiNN); options given here win")
    p.add_argument("--nproc", type=int, default=None, metavar="N",
                   help="data-parallel training on N processes: hands over to torchrun (gloo on CPU, nccl on GPUs)")


def train_options(args) -> dict:
    options = {field: getattr(args, flag[2:].replace("-", "_"))
               for flag, field, _t, _h in TRAIN_OPTIONS if getattr(args, flag[2:].replace("-", "_")) is not None}
    if args.augment is not None:
        options["augment"] = args.augment
    return options


@contextlib.contextmanager
def sigterm_interrupts():
    """SIGTERM (torchrun's agent stopping its workers, a batch system) raises KeyboardInterrupt."""
    def interrupt(_signum, _frame):
        raise KeyboardInterrupt
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def train_command(args) -> int | None:
    options = train_options(args)
    if args.nproc is not None:
        return launch_ranks(args, options)
    writes = int(os.environ.get("RANK", "0")) == 0
    if args.continual:
        with sigterm_interrupts():
            report = pipeline.run_continual(args.out, options, args.continual, force=args.force,
                                            preset=args.continual_preset, resume=args.resume, recipe=args.recipe)
        if writes:
            print_continual(args.out, report)
        return None
    with sigterm_interrupts():
        metrics = pipeline.run_train(args.out, options, resume=args.resume, progress=not args.no_progress,
                                     force=args.force, recipe=args.recipe)
    if writes:
        print_metrics(args.out, metrics)
    return None


def launch_ranks(args, options: dict) -> int:
    """``--nproc N``: check the options once, then run this command line under torchrun's launcher."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    if args.nproc < 1 or "RANK" in os.environ:
        raise ValueError(f"--nproc must be >= 1 and is not for a process torchrun started, got {args.nproc}")
    pipeline.check_train_options(args.out, options, resume=args.resume, force=args.force, recipe=args.recipe,
                                 continual=args.continual, continual_preset=args.continual_preset)
    argv = strip_nproc(args.argv)
    try:
        torchrun(["--standalone", f"--nproc-per-node={args.nproc}", "-m", "bnn2hw.cli", *argv])
    except ChildFailedError as err:
        codes = [f.exitcode for f in err.failures.values()]
        print(f"bnn2hw train: a rank failed (exit {', '.join(map(str, codes))}); see its message above",
              file=sys.stderr)
        return next((c for c in codes if c > 0), 1)
    except (KeyboardInterrupt, SignalException):
        print(f"\nbnn2hw train: interrupted; the checkpoint of the last finished epoch (if any) is in "
              f"{args.out}; continue with --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def strip_nproc(argv: list[str]) -> list[str]:
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--nproc":
            skip = True
        elif not item.startswith("--nproc="):
            out.append(item)
    return out


def print_continual(out: Path, report: dict) -> None:
    print(f"\ncontinual learning, {report['scenario']} ({report['tasks']} tasks): {out}/continual.json")
    for method, r in report["methods"].items():
        pred = r["predictive"]
        print(f"  {method:10s} average accuracy {r['average_acc']:.4f}  forgetting {r['forgetting']:.4f}  "
              f"(predictive of {pred['samples']} samples: {pred['average_acc']:.4f}, {pred['forgetting']:.4f})"
              if pred["samples"] else
              f"  {method:10s} average accuracy {r['average_acc']:.4f}  forgetting {r['forgetting']:.4f}")
        for i, row in enumerate(r["acc_matrix"]):
            print(f"    after task {i}: " + " ".join(f"{a:.3f}" for a in row))


def add_uncertainty_parser(sub) -> None:
    p = sub.add_parser("uncertainty", help="ensemble calibration, reliability diagram and OOD AUROC of a run")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--out", type=Path, default=None, help="where uncertainty.json and reliability.png go (default: the run)")
    p.add_argument("--ood", default="permuted", help="out-of-distribution images: permuted (the test images with "
                   "pixels shuffled) or digits (scaled to the run's image size)")
    p.add_argument("--samples", type=int, default=10, help="posterior samples in the ensemble")
    p.add_argument("--device", default="auto", help=f"{', '.join(DEVICE_CHOICES)} (default auto)")


def uncertainty_command(args) -> None:
    report = pipeline.run_uncertainty(args.run_dir, args.out, args.ood, args.samples, device=args.device)
    out = args.out or args.run_dir
    print(f"\n{report['method']} run {report['run']}, out-of-distribution images: {report['ood']}")
    for name, r in report["readouts"].items():
        print(f"  {name:9s} acc {r['acc']:.4f}  nll {r['nll']:.4f}  ece {r['ece']:.4f}  "
              f"entropy {r['entropy']:.4f}  OOD AUROC {r['ood_auroc']:.4f}"
              + (f"  disagrees with mode on {100 * r['disagreement']:.1f} % of images" if "disagreement" in r else ""))
    posterior = report.get("posterior")
    if posterior:
        low, high = posterior["band"]
        print(f"  posterior: {100 * posterior['uncertain_share']:.2f} % of the weights have q(w=+1) in "
              f"[{low:g}, {high:g}]" + ("  (collapsed: its samples are the mode network)"
                                        if posterior["uncertain_share"] < 0.01 else ""))
    print(f"  {out}/uncertainty.json, {out}/reliability.png")


def print_metrics(run_dir: Path, m: dict) -> None:
    print(f"\n{m['model']} on {m['dataset']} with {m['method']}: {m['epochs']} epochs, "
          f"{m['train_seconds']:.1f} s ({m['seconds_per_epoch']:.2f} s/epoch)")
    print(f"  mode network (goes to hardware): acc {m['test_acc']:.4f}  nll {m['test_nll']:.4f}  "
          f"ece {m['test_ece']:.4f}")
    ens = m.get("ensemble")
    if ens:
        print(f"  {ens['samples']}-sample ensemble:           acc {ens['acc']:.4f}  nll {ens['nll']:.4f}  "
              f"ece {ens['ece']:.4f}")
    print(f"  artifacts: {run_dir}/checkpoint.pt, metrics.json, curves.png")
