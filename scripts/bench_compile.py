"""Compile benchmark: wall time of ``bnn2hw compile`` (fold, emit QONNX, verify on the whole
test split) for TFC, SFC and LFC on Fashion-MNIST and CNV on digits. Networks are untrained
but have random batchnorm statistics (γ of both signs), so every threshold is non-trivial.

With ``--runs DIR ...`` it also compiles trained runs (for example those bench_train.py leaves
under its --out directory) and reports their verification.

Usage: .venv/bin/python scripts/bench_compile.py [--runs RUN_DIR ...] [--no-write]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks_md import write_section
from bnn2hw.compile import compile_run
from bnn2hw.data import load_dataset
from bnn2hw.train import TrainConfig
from bnn2hw.train.loop import Trainer

CASES = [("tfc", "fashion-mnist", 1), ("sfc", "fashion-mnist", 1), ("lfc", "fashion-mnist", 1), ("cnv", "digits", 8)]


def make_run(model: str, dataset: str, bits: int, out: Path) -> Path:
    """A run directory holding an untrained checkpoint with random batchnorm statistics."""
    config = TrainConfig(model=model, dataset=dataset, input_bits=bits, method="bayesbinn")
    trainer = Trainer(config, out, load_dataset(dataset, val_fraction=config.val_split))
    generator = torch.Generator().manual_seed(0)
    for module in trainer.model.modules():
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            n = module.num_features
            fan_in = 784 if bits == 1 else 255 * 784
            module.running_mean.copy_(torch.randn(n, generator=generator) * fan_in ** 0.5 * 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) * fan_in + 1.0)
            module.weight.data.copy_(torch.randn(n, generator=generator))
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)
    trainer.save()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--runs", type=Path, nargs="*", default=[], help="trained run directories to compile too")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_compile-"))
    lines = ["| network | data | input | test images | compile s (fold + emit) | total s (with verification) "
             "| label / score mismatches | accuracy: torch float / integer / QONNX |", "|---|---|---|---|---|---|---|---|"]
    jobs = [(f"{m} (untrained, random BN)", make_run(m, d, b, tmp / f"{m}-run")) for m, d, b in CASES]
    jobs += [(f"{run.name} (trained)", run) for run in args.runs]
    for i, (label, run) in enumerate(jobs):
        start = time.perf_counter()
        v = compile_run(run, tmp / f"build-{i}")
        total = time.perf_counter() - start
        cfg = torch.load(run / "checkpoint.pt", weights_only=True)["config"]
        lines.append(f"| {label} | {v['dataset']} | {cfg['input_bits']}-bit | {v['images']} | {v['compile_seconds']:.2f} "
                     f"| {total:.1f} | {v['label_mismatches']} / {v['value_mismatches']} "
                     f"| {v.get('torch_float_accuracy', float('nan')):.4f} / {v['integer_accuracy']:.4f} "
                     f"/ {v['qonnx_accuracy']:.4f} |")
        print(lines[-1], flush=True)
    text = (f"Measured by `python scripts/bench_compile.py` on {platform.machine()}, "
            f"{torch.get_num_threads()} torch threads (target: LFC under 30 s).\n\n" + "\n".join(lines) + "\n")
    print("\n" + text)
    if not args.no_write:
        write_section("bench_compile", "Compile (scripts/bench_compile.py)", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
