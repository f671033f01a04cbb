"""Training benchmark: TFC on digits and SFC on Fashion-MNIST, 10 epochs, binarized and
8-bit input, BayesBiNN and STE. Prints a table and writes it into BENCHMARKS.md.

Usage: .venv/bin/python scripts/bench_train.py [--epochs 10] [--out runs/bench_train] [--device auto] [--no-write]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

import torch

from benchmarks_md import write_section
from bnn2hw.data import DatasetError
from bnn2hw.train import TrainConfig, train

CASES = [("tfc", "digits"), ("sfc", "fashion-mnist")]


def run_case(model: str, dataset: str, bits: int, method: str, epochs: int, out: Path, device: str = "auto") -> dict:
    config = TrainConfig(model=model, dataset=dataset, method=method, input_bits=bits, epochs=epochs, device=device)
    return train(config, out / f"{model}-{dataset}-{bits}b-{method}", progress=False, log=lambda _: None)


def table(rows: list[dict]) -> str:
    head = ("| model | data | input | method | test acc (mode) | NLL | ECE | ensemble acc | ensemble NLL "
            "| ensemble ECE | s/epoch | train s |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for m in rows:
        e = m["ensemble"] or {}
        ens = (f"{e['acc']:.4f} | {e['nll']:.4f} | {e['ece']:.4f}" if e else "– | – | –")
        lines.append(f"| {m['model']} | {m['dataset']} | {m['input_bits']}-bit | {m['method']} | {m['test_acc']:.4f} "
                     f"| {m['test_nll']:.4f} | {m['test_ece']:.4f} | {ens} | {m['seconds_per_epoch']:.2f} "
                     f"| {m['train_seconds']:.1f} |")
    return head + "\n".join(lines) + "\n"




def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_train-"))
    rows = []
    for model, dataset in CASES:
        for bits in (1, 8):
            for method in ("bayesbinn", "ste"):
                try:
                    rows.append(run_case(model, dataset, bits, method, args.epochs, out, args.device))
                except DatasetError as err:
                    print(f"skipped {model}/{dataset}: {err}", file=sys.stderr)
                    break
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    machine = (f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
               f"torch {torch.__version__}")
    text = (f"Measured by `python scripts/bench_train.py --epochs {args.epochs}` on {machine}, device "
            f"{rows[0]['device'] if rows else args.device}. "
            "Ensembles average the softmax of 10 Bernoulli posterior samples; "
            "the mode network (sign λ) is the one that goes to hardware.\n\n" + table(rows))
    print("\n" + text)
    if not args.no_write:
        write_section("bench_train", "Training (scripts/bench_train.py)", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
