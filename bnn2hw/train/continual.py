"""Continual learning: one network trained on a sequence of tasks, BayesBiNN against STE.

Scenarios (``"kind:T"``):
- ``permuted:T`` — T tasks on the same data set; task 0 is the raw images, task t > 0 applies
  one fixed random permutation of pixel positions to the raw uint8 pixels (the same for every
  channel, train/val/test alike), so every task is as hard as the first (domain-incremental).
- ``split:T`` — task t holds classes 2t and 2t+1, relabelled 0 and 1 (domain-incremental, a
  2-way head shared by all tasks; T ≤ classes/2).

BayesBiNN sets its prior to the previous task's posterior after each task, λ₀ ← λ
(``BayesBiNN.use_posterior_as_prior``); STE simply continues training. Batchnorm statistics
are shared and keep adapting (no per-task heads or statistics).

Two presets (``continual_config(preset, **options)``: the options the user set win):
- ``binary`` (default), the hardware-ready path: the chosen binary topology (sign
  activations, binarized input as in every bnn2hw run), with two of the authors' continual
  settings that differ from single-task training:
  - τ = 1e-2. At τ = 1e-10 samples and means saturate, the 1e-10 regularisers make the
    natural-gradient scale 1/τ, |λ| grows without bound and each new task's evidence swamps
    the prior λ₀; at 1e-2 λ stays on the scale of the evidence and the prior keeps earlier tasks.
  - batchnorm without affine parameters, for every method: ``bn_lr = 0`` keeps γ = 1, β = 0
    (and the output scale at its initial value), point estimates outside the posterior that
    would otherwise drift to each new task.
  BayesBiNN's learning rate here is 1e-2 (``BINARY_LR``), NOT the authors' (1e-3): with a
  few epochs per task instead of their 100, 1e-3 leaves λ near its initialisation.
- ``authors``, the faithful reproduction of the official experiment
  (team-approx-bayes/BayesBiNN, main_permute_mnist_CL.py): their network ``cl100``
  (784-100-100-10, binary weights, real ReLU activations, normalised real input; see
  ``bnn2hw.models.topologies``; the compiler refuses it), τ = 1e-2, lr 1e-3, 100 epochs per
  task with the cosine schedule restarted per task, λ initialised to 10, batch 100, no
  validation split, batchnorm without affine parameters, and evaluation by the 100-sample
  predictive. The only difference: the data set is the one given (Fashion-MNIST by default).

Both report, after every task, the mode network's and the predictive's accuracy on every
task (the predictive: the mean of ``test_samples`` posterior samples' probabilities; for a
method without a posterior, the mode).

Under torch.distributed (``runtime``) every rank trains its share of each batch and reads the
tasks out alike; rank 0 writes the checkpoints and ``continual.json`` (with ``device`` and
``world_size``).

Every method's checkpoint (``out_dir/METHOD/checkpoint.pt``) is written after every epoch with
the sequence's progress (task, accuracy rows so far, seconds) in the same atomic file;
``resume=True`` (``bnn2hw train --continual ... --resume``) continues each method from its last
finished epoch, bit for bit, and a finished method is read back without training.

Contract: ``train_continual(config, out_dir, scenario, methods=("bayesbinn", "ste"))`` trains
``config.epochs`` epochs per task for every method, evaluates the mode network on every
task's test split after every task and returns (and writes ``out_dir/continual.json``)
``{"scenario", "preset", "tasks", "epochs_per_task", "methods": {method: {"acc_matrix": R,
"average_acc", "forgetting", "predictive": {"acc_matrix", "average_acc", "forgetting",
"samples"}, "train_seconds"}}}`` with R[i][j] = mode accuracy on task j after training task
i, average accuracy = mean_j R[T−1][j] and forgetting = mean_{j<T−1} (max_{i<T−1} R[i][j] −
R[T−1][j]) (Chaudhry et al., 2018).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bnn2hw.data import Dataset, load_dataset
from bnn2hw.train.bayesbinn import BayesBiNN
from bnn2hw.train.checkpoint import CheckpointError
from bnn2hw.train.evaluate import ensemble_probs, readout_probs
from bnn2hw.train.distributed import Runtime, local_runtime
from bnn2hw.train.loop import TrainConfig, Trainer
from bnn2hw.train.method_base import Method, ReadOut
from bnn2hw.train.methods import latent_weights
from bnn2hw.train.uncertainty import permute_pixels


BINARY_LR = {Method.BAYESBINN: 1e-2}  # other methods: their single-task default
# both use the paper's BayesBiNN rule (bnn2hw.train.presets): the authors' continual runs did
CONTINUAL_PRESETS: dict[str, dict] = {
    "binary": {"preset": "paper", "temperature": 1e-2, "bn_lr": 0.0},
    "authors": {"preset": "paper", "model": "cl100", "temperature": 1e-2, "bn_lr": 0.0, "epochs": 100,
                "lambda_init": 10.0, "batch_size": 100, "val_split": 0.0, "test_samples": 100},
}
CONTINUAL_METHODS = ("bayesbinn", "ste")
PRESET_LR = {"binary": BINARY_LR, "authors": {Method.BAYESBINN: 1e-3}}


def continual_config(preset: str = "binary", **options) -> TrainConfig:
    """The options the user set over the preset's settings."""
    if preset not in CONTINUAL_PRESETS:
        raise ValueError(f"unknown continual preset {preset!r}; presets: {', '.join(CONTINUAL_PRESETS)}")
    return TrainConfig(**{**CONTINUAL_PRESETS[preset], **options})


def method_lr(config: TrainConfig, method: str, preset: str = "binary") -> float | None:
    """``config.lr`` applies to ``config.method`` only; None: the method's default."""
    if method == config.method and config.lr is not None:
        return config.lr
    return PRESET_LR[preset].get(Method(method))


@dataclass(frozen=True)
class Scenario:
    kind: str   # "permuted" or "split"
    tasks: int


def parse_scenario(text: str) -> Scenario:
    kind, _, count = text.partition(":")
    if kind not in ("permuted", "split") or not count.isdigit() or int(count) < 1:
        raise ValueError(f"bad scenario {text!r}: expected permuted:T or split:T with T >= 1")
    return Scenario(kind, int(count))


def _permuted(data: Dataset, permutation: np.ndarray) -> Dataset:
    return replace(data, **{f"x_{s}": permute_pixels(getattr(data, f"x_{s}"), permutation)
                            for s in ("train", "val", "test")})


def _split(data: Dataset, first: int) -> Dataset:
    parts = {}
    for s in ("train", "val", "test"):
        x, y = getattr(data, f"x_{s}"), getattr(data, f"y_{s}")
        keep = (y == first) | (y == first + 1)
        parts[f"x_{s}"], parts[f"y_{s}"] = x[keep], (y[keep] - first).astype(np.int64)
    return replace(data, classes=(data.classes[first], data.classes[first + 1]), **parts)


def make_tasks(data: Dataset, scenario: Scenario, seed: int = 0) -> list[Dataset]:
    if scenario.kind == "split":
        if 2 * scenario.tasks > data.num_classes:
            raise ValueError(f"split:{scenario.tasks} needs {2 * scenario.tasks} classes, "
                             f"{data.name} has {data.num_classes}")
        return [_split(data, 2 * t) for t in range(scenario.tasks)]
    rng = np.random.default_rng(seed)
    pixels = data.image_shape[1] * data.image_shape[2]
    return [data if t == 0 else _permuted(data, rng.permutation(pixels)) for t in range(scenario.tasks)]


def task_accuracies(trainer: Trainer, task: Dataset) -> tuple[float, float]:
    """(mode accuracy, predictive accuracy) on ``task``'s test split."""
    method = Method(trainer.config.method)
    latent = latent_weights(method, trainer.model, trainer.optimizer)
    mode = readout_probs(trainer.model, method, latent, ReadOut.MODE, task.x_test)
    mode_acc = float(np.mean(mode.argmax(1) == task.y_test))
    if not method.probabilistic or trainer.config.test_samples == 0:
        return mode_acc, mode_acc
    probs = ensemble_probs(trainer.model, method, latent, task.x_test, trainer.config.test_samples,
                           trainer.config.seed)
    return mode_acc, float(np.mean(probs.argmax(1) == task.y_test))


def train_task(trainer: Trainer, task: Dataset, log, checkpoint) -> float:
    """Train from ``trainer.epoch`` to ``config.epochs`` epochs on ``task`` (the cosine schedule
    restarts per task), calling ``checkpoint()`` after every epoch; seconds."""
    trainer.set_data(task)
    seconds = 0.0
    if isinstance(trainer.optimizer, BayesBiNN):
        trainer.optimizer.train_set_size = len(task.x_train)
    while trainer.epoch < trainer.config.epochs:
        record = trainer.run_epoch(progress=False)
        trainer.epoch += 1
        seconds += record["seconds"]
        checkpoint(seconds)
        log(f"  epoch {trainer.epoch}: train acc {record['train_acc']:.4f} val acc {record['val_acc']:.4f}")
    return seconds


def _resumed_progress(trainer: Trainer, scenario: str, log) -> dict | None:
    """The progress stored with ``trainer``'s checkpoint (restoring its state), or None without one."""
    if not trainer.checkpoint_path.is_file():
        return None
    stored = trainer.restore()
    progress = stored.get("continual")
    if not isinstance(progress, dict) or progress.get("scenario") != scenario:
        raise CheckpointError(f"{trainer.checkpoint_path}: not a continual sequence on {scenario} "
                              f"(stored: {progress.get('scenario') if isinstance(progress, dict) else None}); "
                              "resume it with its own scenario or start again with --force")
    log(f"{trainer.config.method}: resuming task {progress['task'] + 1} after epoch {trainer.epoch}")
    return progress


def run_sequence(config: TrainConfig, tasks: list[Dataset], out_dir: Path, log=print, scenario: str = "",
                 resume: bool = False, runtime: Runtime | None = None) -> dict:
    """Accuracy matrix, average accuracy and forgetting of one method on ``tasks``. The checkpoint
    (``out_dir/checkpoint.pt``) is written after every epoch with the sequence's progress, so
    ``resume`` continues an interrupted sequence from its last finished epoch."""
    trainer = Trainer(config, out_dir, tasks[0], runtime)
    progress = (_resumed_progress(trainer, scenario, log) if resume else None) or {
        "scenario": scenario, "task": 0, "matrix": [], "predictive": [], "seconds": 0.0}

    def checkpoint(task_seconds: float = 0.0) -> None:
        trainer.save(extra={"continual": {**progress, "seconds": progress["seconds"] + task_seconds}})
    for t in range(progress["task"], len(tasks)):
        log(f"{config.method}: task {t + 1}/{len(tasks)}")
        seconds = train_task(trainer, tasks[t], log, checkpoint)
        if isinstance(trainer.optimizer, BayesBiNN):
            trainer.optimizer.use_posterior_as_prior()
        rows = [task_accuracies(trainer, other) for other in tasks]
        progress = {**progress, "task": t + 1, "seconds": progress["seconds"] + seconds,
                    "matrix": progress["matrix"] + [[mode for mode, _ in rows]],
                    "predictive": progress["predictive"] + [[pred for _, pred in rows]]}
        trainer.epoch = 0  # the next task starts its own schedule
        checkpoint()
        log(f"  mode accuracy on tasks 1..{len(tasks)}: " + " ".join(f"{a:.3f}" for a in progress["matrix"][-1]))
    samples = config.test_samples if Method(config.method).probabilistic else 0
    return {"acc_matrix": progress["matrix"], **sequence_scores(progress["matrix"]), "train_seconds": progress["seconds"],
            "predictive": {"acc_matrix": progress["predictive"], **sequence_scores(progress["predictive"]),
                           "samples": samples}}


def sequence_scores(matrix: list[list[float]]) -> dict[str, float]:
    r = np.asarray(matrix)
    last = len(r) - 1
    forgetting = float(np.mean([r[:last, j].max() - r[last, j] for j in range(last)])) if last else 0.0
    return {"average_acc": float(r[last].mean()), "forgetting": forgetting}


def train_continual(config: TrainConfig, out_dir: Path, scenario: str,
                    methods: tuple[str, ...] = CONTINUAL_METHODS, log=print, preset: str = "binary",
                    resume: bool = False, runtime: Runtime | None = None) -> dict:
    parsed = parse_scenario(scenario)
    runtime = runtime if runtime is not None else local_runtime(config.device)
    log = log if runtime.writes else (lambda _message: None)
    data = load_dataset(config.dataset, config.data_dir, val_fraction=config.val_split, seed=config.seed)
    tasks = make_tasks(data, parsed, config.seed)
    out_dir = Path(out_dir)
    results = {"scenario": scenario, "preset": preset, "dataset": config.dataset, "model": config.model,
               "tasks": parsed.tasks, "epochs_per_task": config.epochs, "methods": {}}
    for method in methods:
        method_config = replace(config, method=method, lr=method_lr(config, method, preset))
        results["methods"][method] = run_sequence(method_config, tasks, out_dir / method, log, scenario, resume,
                                                  runtime)
    if runtime.writes:
        results.update(device=str(runtime.device), world_size=runtime.world_size)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "continual.json").write_text(json.dumps(results, indent=2) + "\n")
    return results
