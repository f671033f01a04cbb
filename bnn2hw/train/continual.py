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

``continual_config(**options)`` is the ``TrainConfig`` of a sequence: the options the user set
over ``CONTINUAL_DEFAULTS``, two settings of the authors' continual-learning runs
(team-approx-bayes/BayesBiNN, main_permute_mnist_CL.py) that differ from single-task training:
- τ = 1e-2. At τ = 1e-10 samples and means saturate, the 1e-10 regularisers make the
  natural-gradient scale 1/τ, |λ| grows without bound and each new task's evidence swamps the
  prior λ₀; at 1e-2 λ stays on the scale of the evidence and the prior keeps earlier tasks.
- batchnorm without affine parameters, for every method: ``bn_lr = 0`` keeps γ = 1, β = 0
  (and the output scale at its initial value), point estimates outside the posterior that
  would otherwise drift to each new task.
BayesBiNN's learning rate is 1e-2 (``CONTINUAL_LR``; the authors' 1e-3 is for 100 epochs per
task). BENCHMARKS.md (``bench_methods``) measures these choices.

Contract: ``train_continual(config, out_dir, scenario, methods=("bayesbinn", "ste"))`` trains
``config.epochs`` epochs per task for every method, evaluates the mode network on every
task's test split after every task and returns (and writes ``out_dir/continual.json``)
``{"scenario", "tasks", "epochs_per_task", "methods": {method: {"acc_matrix": R,
"average_acc", "forgetting", "train_seconds"}}}`` with R[i][j] = accuracy on task j after
training task i, average accuracy = mean_j R[T−1][j] and forgetting =
mean_{j<T−1} (max_{i<T−1} R[i][j] − R[T−1][j]) (Chaudhry et al., 2018).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bnn2hw.data import Dataset, load_dataset
from bnn2hw.train.bayesbinn import BayesBiNN
from bnn2hw.train.evaluate import readout_probs
from bnn2hw.train.loop import TrainConfig, Trainer
from bnn2hw.train.methods import Method, ReadOut, latent_weights
from bnn2hw.train.uncertainty import permute_pixels


CONTINUAL_DEFAULTS = {"preset": "paper", "temperature": 1e-2, "bn_lr": 0.0}
CONTINUAL_LR = {Method.BAYESBINN: 1e-2}  # other methods: their single-task default


def continual_config(**options) -> TrainConfig:
    """The options the user set over ``CONTINUAL_DEFAULTS``."""
    return TrainConfig(**{**CONTINUAL_DEFAULTS, **options})


def method_lr(config: TrainConfig, method: str) -> float | None:
    """``config.lr`` applies to ``config.method`` only; None: the method's default."""
    if method == config.method and config.lr is not None:
        return config.lr
    return CONTINUAL_LR.get(Method(method))


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


def mode_accuracy(trainer: Trainer, task: Dataset) -> float:
    method = Method(trainer.config.method)
    latent = latent_weights(method, trainer.model, trainer.optimizer)
    probs = readout_probs(trainer.model, method, latent, ReadOut.MODE, task.x_test)
    return float(np.mean(probs.argmax(1) == task.y_test))


def train_task(trainer: Trainer, task: Dataset, log) -> float:
    """Train ``config.epochs`` epochs on ``task`` with a fresh cosine schedule; seconds."""
    trainer.data, trainer.epoch, seconds = task, 0, 0.0
    trainer.steps_per_epoch = math.ceil(len(task.x_train) / trainer.config.batch_size)
    if isinstance(trainer.optimizer, BayesBiNN):
        trainer.optimizer.train_set_size = len(task.x_train)
    while trainer.epoch < trainer.config.epochs:
        record = trainer.run_epoch(progress=False)
        trainer.epoch += 1
        seconds += record["seconds"]
        log(f"  epoch {trainer.epoch}: train acc {record['train_acc']:.4f} val acc {record['val_acc']:.4f}")
    return seconds


def run_sequence(config: TrainConfig, tasks: list[Dataset], out_dir: Path, log=print) -> dict:
    """Accuracy matrix, average accuracy and forgetting of one method on ``tasks``."""
    trainer = Trainer(config, out_dir, tasks[0])
    matrix, seconds = [], 0.0
    for t, task in enumerate(tasks):
        log(f"{config.method}: task {t + 1}/{len(tasks)}")
        seconds += train_task(trainer, task, log)
        if isinstance(trainer.optimizer, BayesBiNN):
            trainer.optimizer.use_posterior_as_prior()
        matrix.append([mode_accuracy(trainer, other) for other in tasks])
        log(f"  accuracy on tasks 1..{len(tasks)}: " + " ".join(f"{a:.3f}" for a in matrix[-1]))
    trainer.save()
    return {"acc_matrix": matrix, **sequence_scores(matrix), "train_seconds": seconds}


def sequence_scores(matrix: list[list[float]]) -> dict[str, float]:
    r = np.asarray(matrix)
    last = len(r) - 1
    forgetting = float(np.mean([r[:last, j].max() - r[last, j] for j in range(last)])) if last else 0.0
    return {"average_acc": float(r[last].mean()), "forgetting": forgetting}


def train_continual(config: TrainConfig, out_dir: Path, scenario: str,
                    methods: tuple[str, ...] = ("bayesbinn", "ste"), log=print) -> dict:
    parsed = parse_scenario(scenario)
    data = load_dataset(config.dataset, config.data_dir, val_fraction=config.val_split, seed=config.seed)
    tasks = make_tasks(data, parsed, config.seed)
    out_dir = Path(out_dir)
    results = {"scenario": scenario, "dataset": config.dataset, "model": config.model,
               "tasks": parsed.tasks, "epochs_per_task": config.epochs, "methods": {}}
    for method in methods:
        method_config = replace(config, method=method, lr=method_lr(config, method))
        results["methods"][method] = run_sequence(method_config, tasks, out_dir / method, log)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "continual.json").write_text(json.dumps(results, indent=2) + "\n")
    return results
