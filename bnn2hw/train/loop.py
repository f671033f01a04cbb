"""The training loop: one run of one method on one model and data set, on one device, in one
process or as one rank of a data-parallel group (``bnn2hw.train.distributed``).

Contract: ``train(config, out_dir, runtime=None)`` writes ``out_dir/checkpoint.pt`` after every
epoch (atomically; ``resume=True`` continues from it, at any world size), then ``metrics.json``
(with ``device`` and ``world_size``) and ``curves.png``, and returns the metrics; under
torch.distributed rank 0 alone writes and reads out, the other ranks return ``{}`` after the last
epoch. A non-finite loss stops the run with ``TrainingDiverged`` and leaves the last good
checkpoint in place. Randomness comes from ``config.seed`` only: batch order and augmentation
are seeded per epoch, the relaxation noise comes from torch's global generator (and on a GPU,
that GPU's), whose state travels in the checkpoint. Model and optimizer are built on the CPU,
then moved to ``runtime.device`` with the training images (uint8) and everything a step touches;
the checkpoint holds CPU tensors.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bnn2hw.data import Dataset, load_dataset
from bnn2hw.models import BinaryNet, ModelConfig, build_model
from bnn2hw.train.augment import augment_batch, epoch_augmentation
from bnn2hw.train.checkpoint import CheckpointError, load_checkpoint, load_into, save_checkpoint
from bnn2hw.train.config import (  # noqa: F401  (TrainConfig and saved_config are also read from here)
    INIT_METHODS, RESUMABLE_CHANGES, TrainConfig, augment_enabled, saved_config, scheduled_lr,
)
from bnn2hw.train.device import move_training_state, to_cpu
from bnn2hw.train.distributed import (
    Runtime, all_sum, data_parallel_step, local_runtime, shard, sum_gradients, synchronise_batchnorm,
)
from bnn2hw.train.evaluate import EVAL_BATCH, evaluate_readouts
from bnn2hw.train.method_base import Method, ReadOut, binary_weights, use_weights
from bnn2hw.train.methods import METHODS, latent_weights, make_optimizer
from bnn2hw.train.report import write_curves, write_metrics
from bnn2hw.progress import progress as progress_bar


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def _model_for(config: TrainConfig, data: Dataset) -> BinaryNet:
    return build_model(ModelConfig(config.model, config.input_bits, data.image_shape, data.num_classes))


def _evaluate_loss_acc(model: BinaryNet, x: torch.Tensor, y: torch.Tensor, runtime: Runtime,
                       ) -> tuple[float, float]:
    """Mean cross-entropy and accuracy on (x, y), each rank on its share, summed over the ranks."""
    if len(x) == 0:
        return float("nan"), float("nan")
    rows, _ = shard(torch.arange(len(x)), runtime)
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(rows), EVAL_BATCH):
            part = rows[i:i + EVAL_BATCH].to(x.device)
            logits = model(x[part])
            loss += F.cross_entropy(logits, y[part], reduction="sum").item()
            correct += (logits.argmax(1) == y[part]).sum().item()
    model.train()
    loss, correct = all_sum([loss, correct], runtime)
    return loss / len(x), correct / len(x)


class Trainer:
    """Holds one run's state between epochs."""

    def __init__(self, config: TrainConfig, out_dir: Path, data: Dataset, runtime: Runtime | None = None):
        self.config, self.out_dir = config, Path(out_dir)
        self.runtime = runtime if runtime is not None else local_runtime(config.device)
        torch.manual_seed(config.seed)
        self.model = _model_for(config, data)
        self.optimizer = make_optimizer(Method(config.method), self.model, config, len(data.x_train))
        move_training_state(self.model, self.optimizer, self.runtime.device)
        if self.runtime.distributed:
            synchronise_batchnorm(self.model)
        for group in self.optimizer.param_groups:
            group["base_lr"] = group["lr"]
        self.epoch, self.history, self.train_seconds = 0, [], 0.0
        self.set_data(data)

    def set_data(self, data: Dataset) -> None:
        """Train on ``data`` from now on (its train and validation images go to the device)."""
        device = self.runtime.device
        self.data = data
        self.x_train, self.y_train = (torch.from_numpy(data.x_train).to(device),
                                      torch.from_numpy(data.y_train).to(device))
        self.x_val, self.y_val = torch.from_numpy(data.x_val).to(device), torch.from_numpy(data.y_val).to(device)
        self.steps_per_epoch = math.ceil(len(data.x_train) / self.config.batch_size)

    def train_loss(self, model, optimizer, xb, yb) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, logits) of one batch: the method's own, or cross-entropy of the forward."""
        spec = METHODS[Method(self.config.method)]
        if spec.train_loss is not None:
            return spec.train_loss(model, optimizer, xb, yb)
        logits = model(xb)
        return F.cross_entropy(logits, yb), logits

    def mode_weights(self) -> list[torch.Tensor]:
        method = Method(self.config.method)
        return binary_weights(method, latent_weights(method, self.model, self.optimizer), ReadOut.MODE)

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / "checkpoint.pt"

    def restore(self) -> dict:
        """The run's state from its checkpoint (refusing a changed config); returns the checkpoint."""
        ckpt = load_checkpoint(self.checkpoint_path)
        saved = saved_config(ckpt["config"])
        changed = {k for k in asdict(saved) if getattr(saved, k) != getattr(self.config, k)}
        if changed - RESUMABLE_CHANGES:
            raise CheckpointError(f"{self.checkpoint_path}: cannot resume with different "
                                  f"{', '.join(sorted(changed - RESUMABLE_CHANGES))}")
        load_into(self.model, ckpt, self.checkpoint_path)
        try:
            self.optimizer.load_state_dict(ckpt["optimizer_state"])
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise CheckpointError(f"{self.checkpoint_path}: optimizer_state does not fit the run ({err})") from None
        move_training_state(self.model, self.optimizer, self.runtime.device)
        self.epoch, self.history = ckpt["epoch"], list(ckpt["history"])
        self.train_seconds = ckpt["train_seconds"]
        torch.set_rng_state(ckpt["rng_state"])
        if self.runtime.device.type == "cuda" and "cuda_rng_state" in ckpt:
            torch.cuda.set_rng_state(ckpt["cuda_rng_state"], self.runtime.device)
        return ckpt

    def save(self, metrics: dict | None = None, extra: dict | None = None) -> None:
        """Checkpoint now (rank 0; CPU tensors); ``extra`` adds keys (a continual sequence's
        progress) to the same atomic file."""
        if not self.runtime.writes:
            return
        payload = {
            **(extra or {}),
            "config": asdict(self.config),
            "model_config": asdict(self.model.config),
            "model_state": to_cpu(self.model.state_dict()),
            "optimizer_state": to_cpu(self.optimizer.state_dict()),
            "latent": to_cpu(latent_weights(Method(self.config.method), self.model, self.optimizer)),
            "epoch": self.epoch, "history": self.history, "train_seconds": self.train_seconds,
            "metrics": metrics or {}, "rng_state": torch.get_rng_state(),
        }
        if self.runtime.device.type == "cuda":
            payload["cuda_rng_state"] = torch.cuda.get_rng_state(self.runtime.device)
        save_checkpoint(self.checkpoint_path, payload)

    def step(self, rows: torch.Tensor, step: int, augmentation) -> tuple[float, int, int]:
        """One optimizer step on the global batch ``rows``: (global mean loss, correct, rows) of
        this rank's share."""
        local, offset = shard(rows, self.runtime)
        idx = local.to(self.runtime.device)
        xb, yb = self.x_train[idx], self.y_train[idx]
        if augmentation is not None:
            xb = augment_batch(xb, *(a[local] for a in augmentation))
        for group in self.optimizer.param_groups:
            group["lr"] = scheduled_lr(self.config, group["base_lr"], step, self.steps_per_epoch)
        logits_seen, weight = [], len(local) / len(rows)
        params = [p for g in self.optimizer.param_groups for p in g["params"]]

        def closure():
            self.optimizer.zero_grad()
            loss, logits = self.train_loss(self.model, self.optimizer, xb, yb)
            logits_seen.append(logits.detach())
            if not self.runtime.distributed:
                loss.backward()
                return loss
            (loss * weight).backward()
            return sum_gradients(params, loss.detach() * weight)

        context = data_parallel_step(offset, len(local), len(rows)) if self.runtime.distributed \
            else contextlib.nullcontext()
        with context:
            loss = float(self.optimizer.step(closure).detach())
        return loss, int((logits_seen[-1].argmax(1) == yb).sum()), len(local)

    def run_epoch(self, progress: bool) -> dict:
        cfg, n = self.config, len(self.x_train)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 100_003 + self.epoch))
        augmentation = epoch_augmentation(n, cfg.seed, self.epoch) if augment_enabled(cfg) else None
        loss_sum, correct, seen, start, cpu_start = 0.0, 0, 0, time.perf_counter(), time.process_time()
        self.model.train()
        bar = progress_bar(range(self.steps_per_epoch), f"epoch {self.epoch + 1}/{cfg.epochs}",
                           enabled=progress and self.runtime.writes)
        for i in bar:
            rows = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            if len(rows) < self.runtime.world_size:
                continue  # a last batch smaller than the world: no rank may compute on no rows
            loss, right, local = self.step(rows, self.epoch * self.steps_per_epoch + i, augmentation)
            if not math.isfinite(loss):
                kept = (f"The last good checkpoint ({self.checkpoint_path}, after epoch {self.epoch}) is kept"
                        if self.epoch else "No checkpoint was written (no epoch finished)")
                raise TrainingDiverged(f"loss became {loss} in epoch {self.epoch + 1}, step {i + 1}; training "
                                       f"stopped. {kept}; try a lower --lr")
            loss_sum += loss * len(rows)
            correct += right
            seen += local
            bar.report(loss=f"{loss_sum / max(seen, 1) / self.runtime.world_size:.4f}",
                       acc=f"{correct / max(seen, 1):.3f}")
        correct, seen = all_sum([correct, seen], self.runtime)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        method, spec = Method(cfg.method), METHODS[Method(cfg.method)]
        if spec.settle_each_epoch:  # validate the network the checkpoint would compile now
            spec.settle(self.model, method, latent_weights(method, self.model, self.optimizer), self.data, cfg)
        with use_weights(self.model, self.mode_weights()):
            val_loss, val_acc = _evaluate_loss_acc(self.model, self.x_val, self.y_val, self.runtime)
        return {"epoch": self.epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen,
                "val_loss": val_loss, "val_acc": val_acc, "seconds": seconds,
                "cpu_seconds": cpu_seconds}

    def final_metrics(self) -> dict:
        cfg = self.config
        method = Method(cfg.method)
        latent = latent_weights(method, self.model, self.optimizer)
        spec = METHODS[method]
        if spec.settle is not None:
            spec.settle(self.model, method, latent, self.data, cfg)
        if spec.evaluate is not None:
            readouts = spec.evaluate(self.model, method, latent, self.data, cfg)
        else:
            readouts = evaluate_readouts(self.model, method, latent, self.data.x_test, self.data.y_test,
                                         cfg.test_samples, seed=cfg.seed)
        mode = readouts["mode"]
        return {
            "test_acc": mode["acc"], "test_nll": mode["nll"], "test_ece": mode["ece"],
            "epochs": self.epoch, "train_seconds": self.train_seconds,
            "seconds_per_epoch": self.train_seconds / max(self.epoch, 1),
            "method": cfg.method, "model": cfg.model, "dataset": cfg.dataset,
            "input_bits": cfg.input_bits, "train_size": len(self.data.x_train),
            "test_size": len(self.data.x_test), "device": str(self.runtime.device),
            "world_size": self.runtime.world_size, "augment": augment_enabled(cfg), "recipe": cfg.recipe,
            "readouts": readouts, "ensemble": readouts.get("ensemble"), "history": self.history,
        }


def train(config: TrainConfig, out_dir: Path, resume: bool = False, progress: bool = True,
          log=print, runtime: Runtime | None = None) -> dict:
    """Train, checkpoint every epoch, then write metrics.json and curves.png (rank 0)."""
    runtime = runtime if runtime is not None else local_runtime(config.device)
    log = log if runtime.writes else (lambda _message: None)
    data = load_dataset(config.dataset, config.data_dir, val_fraction=config.val_split, seed=config.seed)
    trainer = Trainer(config, out_dir, data, runtime)
    if resume:
        trainer.restore()
        log(f"resumed {trainer.checkpoint_path} after epoch {trainer.epoch}")
    while trainer.epoch < config.epochs:
        record = trainer.run_epoch(progress)
        trainer.epoch += 1
        trainer.train_seconds += record["seconds"]
        trainer.history.append(record)
        trainer.save()
        log(f"epoch {record['epoch']:3d}  train loss {record['train_loss']:.4f} acc {record['train_acc']:.4f}"
            f"  val loss {record['val_loss']:.4f} acc {record['val_acc']:.4f}  {record['seconds']:.1f}s")
    if not runtime.writes:
        return {}
    metrics = trainer.final_metrics()
    trainer.save(metrics)
    write_metrics(Path(out_dir) / "metrics.json", metrics)
    write_curves(Path(out_dir) / "curves.png", trainer.history, title=f"{config.model} / {config.dataset} / {config.method}")
    return metrics


def resume_config(out_dir: Path, **changes) -> TrainConfig:
    """The config stored in ``out_dir/checkpoint.pt``, with resumable fields changed."""
    bad = set(changes) - RESUMABLE_CHANGES
    if bad:
        raise ValueError(f"cannot change {', '.join(sorted(bad))} when resuming")
    saved = load_checkpoint(Path(out_dir) / "checkpoint.pt")["config"]
    return replace(saved_config(saved), **{k: v for k, v in changes.items() if v is not None})
