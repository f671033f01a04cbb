"""Reproduce the published BNN figures: LFC on MNIST and CNV on CIFAR-10, STE and BayesBiNN, at the
published epochs, on whatever device is present; a table beside the published anchors.

Runs (recipes of ``bnn2hw.train.recipes``): ``lfc-ste`` (brevitas-lfc), ``lfc-bayesbinn``
(bayesbinn-mnist on LFC), ``cnv-ste`` (brevitas-cnv), ``cnv-bayesbinn`` (bayesbinn-cifar10 on CNV).
Each run goes to OUT/NAME; one that has finished (metrics.json) is read back, one that was
interrupted (checkpoint.pt only) is resumed, so the multi-day CPU runs can be continued by
running the same command again. MNIST and CIFAR-10 are read from the directories given
(``--mnist-dir``, ``--cifar-dir``; else the usual places, ``bnn2hw.data``).

Usage: .venv/bin/python scripts/reproduce.py [--out runs/reproduce] [--device auto] [--nproc 1]
       [--runs lfc-ste,lfc-bayesbinn,cnv-ste,cnv-bayesbinn] [--epochs E (override: a smoke run)]
       [--mnist-dir D] [--cifar-dir D]
Writes OUT/reproduce.md and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bnn2hw.pipeline import run_train
from bnn2hw.train.recipes import RECIPE_NOTES


@dataclass(frozen=True)
class Run:
    name: str
    recipe: str
    dataset: str
    anchor: str     # the published figure this run stands beside
    source: str


RUNS = (
    Run("lfc-ste", "brevitas-lfc", "mnist", "98.88 %", "Brevitas bnn_pynq LFC-w1a1 (MNIST)"),
    Run("lfc-bayesbinn", "bayesbinn-mnist", "mnist", "98.88 ± 0.05 %",
        "BayesBiNN, MNIST (their MLPBinaryConnect)"),
    Run("cnv-ste", "brevitas-cnv", "cifar10", "84.22 %", "Brevitas bnn_pynq CNV-w1a1 (CIFAR-10)"),
    Run("cnv-bayesbinn", "bayesbinn-cifar10", "cifar10", "93.75 %", "BayesBiNN, CIFAR-10 (their VGGBinaryConnect)"),
)


def train_run(run: Run, out: Path, options: dict, nproc: int) -> dict:
    """Train (or resume, or read back) one run; its metrics."""
    if (out / "metrics.json").is_file():
        return json.loads((out / "metrics.json").read_text())
    resume = (out / "checkpoint.pt").is_file()
    if nproc <= 1:
        return run_train(out, options, resume=resume, progress=False, recipe=run.recipe,
                         log=lambda line: print(f"{run.name}: {line}", flush=True))
    argv = [sys.executable, "-m", "bnn2hw.cli", "train", "--nproc", str(nproc), "--recipe", run.recipe,
            "--out", str(out), "--no-progress", *(["--resume"] if resume else [])]
    for key, value in options.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    subprocess.run(argv, check=True, env={**os.environ})
    return json.loads((out / "metrics.json").read_text())


def table(rows: list[tuple[Run, dict]]) -> str:
    lines = ["| run | recipe | device × ranks | epochs | test acc (mode) | published | what differs |",
             "|---|---|---|---|---|---|---|"]
    for run, m in rows:
        lines.append(f"| {run.name} | {run.recipe} | {m['device']} × {m['world_size']} | {m['epochs']} "
                     f"| {100 * m['test_acc']:.2f} % | {run.anchor} ({run.source}) | {RECIPE_NOTES[run.recipe]} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/reproduce"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--nproc", type=int, default=1, help="ranks per run (torchrun, gloo on CPU / nccl on GPUs)")
    parser.add_argument("--runs", type=lambda t: t.split(","), default=[r.name for r in RUNS])
    parser.add_argument("--epochs", type=int, default=None, help="override the published epochs (smoke runs)")
    parser.add_argument("--mnist-dir", default=None)
    parser.add_argument("--cifar-dir", default=None)
    args = parser.parse_args(argv)
    unknown = set(args.runs) - {r.name for r in RUNS}
    if unknown:
        print(f"reproduce: unknown runs {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    rows = []
    for run in (r for r in RUNS if r.name in args.runs):
        options = {"device": args.device}
        if args.epochs is not None:
            options["epochs"] = args.epochs
        data_dir = args.mnist_dir if run.dataset == "mnist" else args.cifar_dir
        if data_dir is not None:
            options["data_dir"] = data_dir
        rows.append((run, train_run(run, args.out / run.name, options, args.nproc)))
    text = table(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reproduce.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
