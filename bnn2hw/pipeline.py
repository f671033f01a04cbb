"""The pipeline: one function per CLI command, in the order data flows.

Contract: each ``run_*`` function takes plain arguments and frozen configs, writes its
artifacts (DESIGN.md, "Artifacts") under the directory it is given, and returns a summary
dict. They raise the stage's own errors (``DatasetError``, ``CheckpointError``,
``TrainingDiverged``, ``ValueError``); the CLI turns those into one-line messages.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

from bnn2hw.compile import compile_run
from bnn2hw.hw import build as build_hw
from bnn2hw.train import TrainConfig, resume_config, train
from bnn2hw.train.checkpoint import CheckpointError
from bnn2hw.train.loop import RESUMABLE_CHANGES

DEFAULT_FLOW = TrainConfig(model="tfc", dataset="digits", method="bayesbinn", epochs=20)
FLOW_BOARD = "pynq-z2"


def run_train(out_dir: Path, options: dict, resume: bool = False, progress: bool = True, log=print) -> dict:
    """Train into ``out_dir``; ``options`` holds only the TrainConfig fields the user set."""
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown training options: {', '.join(sorted(unknown))}")
    if resume:
        config = _resumed_config(Path(out_dir), options)
    else:
        config = TrainConfig(**options)
    return train(config, Path(out_dir), resume=resume, progress=progress, log=log)


def _resumed_config(out_dir: Path, options: dict) -> TrainConfig:
    config = resume_config(out_dir, **{k: v for k, v in options.items() if k in RESUMABLE_CHANGES})
    saved = asdict(config)
    clashes = [k for k, v in options.items() if k not in RESUMABLE_CHANGES and saved[k] != v]
    if clashes:
        raise CheckpointError(
            f"{out_dir / 'checkpoint.pt'}: --resume continues the stored run; it was trained with "
            + ", ".join(f"{k}={saved[k]!r}" for k in clashes) + " (only "
            + ", ".join(sorted(RESUMABLE_CHANGES)) + " may change)")
    return config


def run_compile(run_dir: Path, out_dir: Path, sample: int | None = None, data_dir: str | None = None) -> dict:
    """Trained run -> ``out_dir/model.onnx`` (QONNX) and ``out_dir/verify.json``."""
    return compile_run(Path(run_dir), Path(out_dir), sample=sample, data_dir=data_dir)


def run_build(build_dir: Path, board: str = "pynq-z2", fps: float | None = None, clock_mhz: float | None = None,
              folding: str | None = None, verify_limit: int | None = None, log=print) -> dict:
    """``BUILD/model.onnx`` -> FINN dataflow accelerator in ``BUILD/hw/`` (to code generation without Vivado)."""
    return build_hw(Path(build_dir), board=board, fps=fps, clock_mhz=clock_mhz, folding=folding,
                    verify_limit=verify_limit, log=log)


def run_flow(out_dir: Path, progress: bool = True, log=print) -> dict:
    """The whole flow on the embedded default data (digits, TFC, BayesBiNN)."""
    run_dir, build_dir = Path(out_dir) / "run", Path(out_dir) / "build"
    metrics = run_train(run_dir, asdict(DEFAULT_FLOW), progress=progress, log=log)
    log(f"compiling {run_dir} -> {build_dir}")
    verify = run_compile(run_dir, build_dir)
    log(f"building {build_dir}/hw for {FLOW_BOARD}")
    hw = run_build(build_dir, board=FLOW_BOARD, log=log)
    return {"run_dir": str(run_dir), "train": metrics, "build_dir": str(build_dir), "compile": verify, "build": hw}
