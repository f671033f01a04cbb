"""Pipeline stages of ``bnn2hw train`` and ``bnn2hw uncertainty``: one run, a continual-learning
sequence, the uncertainty report of a run (``run_train``, ``run_continual``, ``run_uncertainty``).
"""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

from bnn2hw.output_dir import check_output_dir, lock_output
from bnn2hw.train import TrainConfig, resume_config, train
from bnn2hw.train.checkpoint import CheckpointError
from bnn2hw.train.continual import CONTINUAL_METHODS, continual_config, train_continual
from bnn2hw.train.loop import RESUMABLE_CHANGES
from bnn2hw.train.uncertainty import uncertainty_report
from bnn2hw.pipeline.common import RUN_FILES, check_count, holds, refuse_overwrite


def run_train(out_dir: Path, options: dict, resume: bool = False, progress: bool = True, log=print,
              force: bool = False) -> dict:
    """Train into ``out_dir``; ``options`` holds only the TrainConfig fields the user set."""
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown training options: {', '.join(sorted(unknown))}")
    if resume and force:
        raise ValueError("--resume continues the run in --out, --force replaces it: give one of them")
    out_dir = check_output_dir(out_dir)
    with lock_output(out_dir):
        if resume:
            config = _resumed_config(out_dir, options)
        else:
            config = TrainConfig(**options)
            refuse_overwrite(out_dir, RUN_FILES, "training run", force, resume_hint=True)
            for name in holds(out_dir, RUN_FILES):
                (out_dir / name).unlink()
        return train(config, out_dir, resume=resume, progress=progress, log=log)


def run_continual(out_dir: Path, options: dict, scenario: str, log=print, force: bool = False,
                  preset: str = "binary", resume: bool = False) -> dict:
    """BayesBiNN (prior = previous posterior) against STE on a task sequence -> ``continual.json``;
    ``resume`` continues an interrupted sequence in ``out_dir`` (same options)."""
    if resume and force:
        raise ValueError("--resume continues the sequence in --out, --force replaces it: give one of them")
    config = continual_config(preset, **options)
    out_dir = check_output_dir(out_dir)
    with lock_output(out_dir):
        sequences = [f"{m}/checkpoint.pt" for m in CONTINUAL_METHODS]  # an interrupted sequence's progress
        if not resume:
            refuse_overwrite(out_dir, (*RUN_FILES, *sequences), "training run", force, resume_hint=True)
        elif not holds(out_dir, sequences):
            raise CheckpointError(f"{out_dir}: no continual sequence to resume (no {' or '.join(sequences)})")
        return train_continual(config, out_dir, scenario, log=log, preset=preset, resume=resume)


def run_uncertainty(run_dir: Path, out_dir: Path | None = None, ood: str = "digits", samples: int = 10) -> dict:
    """Ensemble NLL/ECE, reliability diagram and out-of-distribution AUROC of a trained run."""
    check_count(samples, "--samples")
    out = check_output_dir(out_dir if out_dir is not None else run_dir)
    with lock_output(out):
        return uncertainty_report(Path(run_dir), None if out_dir is None else Path(out_dir), ood=ood,
                                  samples=samples)


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
