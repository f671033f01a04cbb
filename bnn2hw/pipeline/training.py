"""Pipeline stages of ``bnn2hw train`` and ``bnn2hw uncertainty``: one run, a continual-learning
sequence, the uncertainty report of a run (``run_train``, ``run_continual``, ``run_uncertainty``).

Under torchrun every rank calls the same stage: each joins the process group
(``bnn2hw.train.distributed.start_runtime``) and checks the output directory alike; rank 0 alone
locks it, removes a replaced run's files and writes. ``recipe`` puts a named recipe's options
(``bnn2hw.train.recipes``) under the ones the user gave.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, fields
from pathlib import Path

from bnn2hw.output_dir import check_output_dir, lock_output
from bnn2hw.train import TrainConfig, resume_config, train
from bnn2hw.train.checkpoint import CheckpointError
from bnn2hw.train.config import RESUMABLE_CHANGES
from bnn2hw.train.continual import CONTINUAL_METHODS, continual_config, parse_scenario, train_continual
from bnn2hw.train.distributed import Runtime, start_runtime, stop_runtime
from bnn2hw.train.recipes import recipe_options
from bnn2hw.train.uncertainty import uncertainty_report


def with_recipe(options: dict, recipe: str | None) -> dict:
    """The recipe's options with the user's over them."""
    return {**recipe_options(recipe), **options} if recipe else dict(options)


@contextlib.contextmanager
def _rank_lock(out_dir: Path, runtime: Runtime):
    with lock_output(out_dir) if runtime.writes else contextlib.nullcontext():
        try:
            yield
        finally:
            stop_runtime(runtime)
from bnn2hw.pipeline.common import RUN_FILES, check_count, holds, refuse_overwrite


def run_train(out_dir: Path, options: dict, resume: bool = False, progress: bool = True, log=print,
              force: bool = False, recipe: str | None = None) -> dict:
    """Train into ``out_dir``; ``options`` holds only the TrainConfig fields the user set."""
    options = with_recipe(options, recipe)
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown training options: {', '.join(sorted(unknown))}")
    if resume and force:
        raise ValueError("--resume continues the run in --out, --force replaces it: give one of them")
    out_dir = check_output_dir(out_dir)
    config = _resumed_config(out_dir, options) if resume else TrainConfig(**options)
    if not resume:
        refuse_overwrite(out_dir, RUN_FILES, "training run", force, resume_hint=True)
    runtime = start_runtime(config.device)
    with _rank_lock(out_dir, runtime):
        if not resume and runtime.writes:
            for name in holds(out_dir, RUN_FILES):
                (out_dir / name).unlink()
        return train(config, out_dir, resume=resume, progress=progress, log=log, runtime=runtime)


def check_train_options(out_dir: Path, options: dict, resume: bool = False, force: bool = False,
                        recipe: str | None = None, continual: str | None = None,
                        continual_preset: str = "binary") -> None:
    """What ``run_train`` / ``run_continual`` refuse, checked before ranks are launched (writes nothing)."""
    options = with_recipe(options, recipe)
    out_dir = check_output_dir(out_dir)
    if resume and force:
        raise ValueError("--resume continues the run in --out, --force replaces it: give one of them")
    if continual:
        continual_config(continual_preset, **options)
        parse_scenario(continual)
        sequences = [f"{m}/checkpoint.pt" for m in CONTINUAL_METHODS]
        if not resume:
            refuse_overwrite(out_dir, (*RUN_FILES, *sequences), "training run", force, resume_hint=True)
        return
    if resume:
        _resumed_config(out_dir, options)
    else:
        TrainConfig(**options)
        refuse_overwrite(out_dir, RUN_FILES, "training run", force, resume_hint=True)


def run_continual(out_dir: Path, options: dict, scenario: str, log=print, force: bool = False,
                  preset: str = "binary", resume: bool = False, recipe: str | None = None) -> dict:
    """BayesBiNN (prior = previous posterior) against STE on a task sequence -> ``continual.json``;
    ``resume`` continues an interrupted sequence in ``out_dir`` (same options)."""
    if resume and force:
        raise ValueError("--resume continues the sequence in --out, --force replaces it: give one of them")
    config = continual_config(preset, **with_recipe(options, recipe))
    out_dir = check_output_dir(out_dir)
    sequences = [f"{m}/checkpoint.pt" for m in CONTINUAL_METHODS]  # an interrupted sequence's progress
    if not resume:
        refuse_overwrite(out_dir, (*RUN_FILES, *sequences), "training run", force, resume_hint=True)
    elif not holds(out_dir, sequences):
        raise CheckpointError(f"{out_dir}: no continual sequence to resume (no {' or '.join(sequences)})")
    runtime = start_runtime(config.device)
    with _rank_lock(out_dir, runtime):
        return train_continual(config, out_dir, scenario, log=log, preset=preset, resume=resume, runtime=runtime)


def run_uncertainty(run_dir: Path, out_dir: Path | None = None, ood: str = "digits", samples: int = 10,
                    device: str = "auto") -> dict:
    """Ensemble NLL/ECE, reliability diagram and out-of-distribution AUROC of a trained run."""
    check_count(samples, "--samples")
    out = check_output_dir(out_dir if out_dir is not None else run_dir)
    with lock_output(out):
        return uncertainty_report(Path(run_dir), None if out_dir is None else Path(out_dir), ood=ood,
                                  samples=samples, device=device)


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
