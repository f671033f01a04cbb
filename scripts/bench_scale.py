"""Training at scale: CNV on CIFAR-shaped data, STE and BayesBiNN, one process against 2 gloo ranks
(``bnn2hw train --nproc 2``), and the single-process BayesBiNN / STE time ratio on SFC / Fashion-MNIST.

Every run is the real command line (``python -m bnn2hw.cli train``), one at a time, alternating, so
that a change in the machine's load hits both sides of a ratio alike. CNV trains one epoch on
``--images`` random CIFAR-shaped images (uint8, written as CIFAR-10 python batches; augmentation
on, as for cifar10; batch 100); images/s is that epoch's training time (``metrics.json``
history), s/epoch the 50 000-image CIFAR-10 epoch extrapolated from it (labelled as such). The
SFC ratio is also given in the epochs' CPU time (``cpu_seconds``), which other jobs cannot inflate. The
device is the CPU (``--device cpu``); every process, the single one and each rank, runs one torch
thread (OMP_NUM_THREADS=1, as torchrun sets for its ranks): on this shared 2-core machine a
process with 2 threads spins against the other jobs (SFC / Fashion-MNIST, one STE epoch: 22 s on
1 thread, 408 s on 2, load 3–6). The 1-minute load average is read before and after each run.

Usage: .venv/bin/python scripts/bench_scale.py [--images 2000] [--repeats 1] [--sfc-epochs 1] [--sfc-repeats N] [--out DIR] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks_md import write_section

ROOT = Path(__file__).resolve().parent.parent
CIFAR_EPOCH = 50_000


def write_cifar_like(directory: Path, n_train: int, n_test: int = 100, seed: int = 0) -> None:
    """Random uint8 images in CIFAR-10's python batch format (5 training batches and a test batch)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sizes = [n_train // 5 + (i < n_train % 5) for i in range(5)] + [n_test]
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name, size in zip(names, sizes):
        batch = {b"data": rng.integers(0, 256, (size, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, size)], b"batch_label": name.encode()}
        (directory / name).write_bytes(pickle.dumps(batch, protocol=2))
    (directory / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}))


def train_once(out: Path, options: list[str], nproc: int) -> dict:
    """One run of the CLI; its epoch seconds, images and the load before and after."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    launch = ["--nproc", str(nproc)] if nproc > 1 else []
    load_before = os.getloadavg()[0]
    subprocess.run([sys.executable, "-m", "bnn2hw.cli", "train", *launch, *options, "--device", "cpu",
                    "--test-samples", "0", "--val-split", "0", "--no-progress", "--out", str(out)],
                   check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    metrics = json.loads((out / "metrics.json").read_text())
    seconds = sum(h["seconds"] for h in metrics["history"])
    cpu = sum(h.get("cpu_seconds", float("nan")) for h in metrics["history"])
    return {"seconds": seconds, "cpu_seconds": cpu, "images": metrics["train_size"] * metrics["epochs"],
            "world_size": metrics["world_size"], "load": (load_before, os.getloadavg()[0])}


def cnv_rows(args, out: Path, data: Path) -> list[dict]:
    rows = []
    for repeat in range(args.repeats):
        for method in ("ste", "bayesbinn"):
            for nproc in (1, 2):
                run = train_once(out / f"cnv-{method}-{nproc}-{repeat}", [
                    "--model", "cnv", "--dataset", "cifar10", "--data-dir", str(data), "--method", method,
                    "--input-bits", "8", "--epochs", "1", "--batch-size", "100"], nproc)
                rows.append({"method": method, "nproc": nproc, **run})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def sfc_rows(args, out: Path) -> list[dict]:
    rows = []
    for repeat in range(args.sfc_repeats or args.repeats):
        for method in ("ste", "bayesbinn"):
            run = train_once(out / f"sfc-{method}-{repeat}", [
                "--model", "sfc", "--dataset", "fashion-mnist", "--method", method, "--epochs", str(args.sfc_epochs)], 1)
            rows.append({"method": method, **run})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def _mean(rows: list[dict], key: str, **match) -> float:
    values = [r[key] for r in rows if all(r[k] == v for k, v in match.items())]
    return sum(values) / len(values)


def cnv_table(rows: list[dict]) -> str:
    """img/s of the mean and of the fastest run (other jobs only slow a run down); the speed-up
    over one process is taken between the fastest runs."""
    lines = ["| method | processes | runs | img/s, mean | img/s, fastest | s/epoch, 50 000 images (extrapolated, "
             "fastest) | speed-up over 1 process (fastest) | load before → after |", "|---|---|---|---|---|---|---|---|"]
    for method in ("ste", "bayesbinn"):
        base = 1.0 / _fastest(rows, method=method, nproc=1)
        for nproc in (1, 2):
            mine = [r for r in rows if r["method"] == method and r["nproc"] == nproc]
            mean = _mean(rows, "images", method=method, nproc=nproc) / _mean(rows, "seconds", method=method, nproc=nproc)
            fastest = 1.0 / _fastest(rows, method=method, nproc=nproc)
            load = ", ".join(f"{a:.1f} → {b:.1f}" for a, b in (r["load"] for r in mine))
            lines.append(f"| {method} | {nproc} | {len(mine)} | {mean:.1f} | {fastest:.1f} | {CIFAR_EPOCH / fastest:.0f} "
                         f"| {fastest / base:.2f}× | {load} |")
    return "\n".join(lines) + "\n"


def _fastest(rows: list[dict], **match) -> float:
    """Seconds per image of the fastest run among those matching (other jobs only slow a run down)."""
    return min(r["seconds"] / r["images"] for r in rows if all(r[k] == v for k, v in match.items()))


def sfc_text(rows: list[dict]) -> str:
    """The ratio of the means, and of the fastest runs: other jobs only ever slow a run down, so
    the fastest of the repeats is the least disturbed estimate of each method's own cost."""
    ste, bayes = (_mean(rows, "seconds", method=m) / _mean(rows, "images", method=m) for m in ("ste", "bayesbinn"))
    n = _mean(rows, "images", method="ste")
    fast_ste, fast_bayes = _fastest(rows, method="ste"), _fastest(rows, method="bayesbinn")
    cpu_ste, cpu_bayes = (_mean(rows, "cpu_seconds", method=m) for m in ("ste", "bayesbinn"))
    runs = ", ".join(f"{r['method']} {r['seconds']:.2f} s, {r['cpu_seconds']:.2f} s CPU (load {r['load'][0]:.1f} → "
                     f"{r['load'][1]:.1f})" for r in rows)
    return (f"SFC / Fashion-MNIST, one process, {len(rows) // 2} run(s) each, alternating ({runs}): "
            f"mean STE {ste * n:.2f} s and BayesBiNN {bayes * n:.2f} s for {n:.0f} training images, "
            f"BayesBiNN / STE = **{bayes / ste:.2f}×** of the means and **{fast_bayes / fast_ste:.2f}×** of the "
            f"fastest runs; of the CPU time the training process spent in its epochs (one thread: what other jobs "
            f"cannot inflate), STE {cpu_ste:.2f} s and BayesBiNN {cpu_bayes:.2f} s, **{cpu_bayes / cpu_ste:.2f}×**. "
            f"The bar: ≤ 1.1×.\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="CIFAR-shaped training images per CNV run")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sfc-epochs", type=int, default=1)
    parser.add_argument("--sfc-repeats", type=int, default=None, help="SFC runs per method (default: --repeats)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_scale-"))
    data = out / "cifar-like"
    write_cifar_like(data, args.images)
    start = time.perf_counter()
    cnv, sfc = cnv_rows(args, out, data), sfc_rows(args, out)
    gpu = ("a GPU: " + torch.cuda.get_device_name(0)) if torch.cuda.is_available() else \
        "no GPU on this machine and none lent by the device tool this session, so no GPU row (none is estimated)"
    text = (f"`python scripts/bench_scale.py --images {args.images} --repeats {args.repeats}"
            f"{f' --sfc-repeats {args.sfc_repeats}' if args.sfc_repeats else ''}` on "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores shared with other agents' "
            f"jobs (load: 1-minute load average before → after each run), one torch thread per process, "
            f"torch {torch.__version__}, {gpu}; "
            f"{time.perf_counter() - start:.0f} s in all. CNV (8-bit input) trains one epoch on {args.images} random "
            "CIFAR-shaped images with augmentation, global batch 100; s/epoch is extrapolated to CIFAR-10's 50 000 "
            "images from that epoch's img/s, not measured on a full epoch.\n\n" + cnv_table(cnv) + "\n" + sfc_text(sfc))
    print(text)
    if not args.no_write:
        write_section("bench_scale", "Training at scale (scripts/bench_scale.py)", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
