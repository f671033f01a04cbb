"""The training loop: one run of one method on one model and data set.

Contract: ``train(config, out_dir)`` writes ``out_dir/checkpoint.pt`` after every epoch
(atomically; ``resume=True`` continues from it), then ``metrics.json`` and ``curves.png``,
and returns the metrics. A non-finite loss stops the run with ``TrainingDiverged`` and
leaves the last good checkpoint in place. Randomness comes from ``config.seed`` only:
batch order is seeded per epoch, the relaxation noise by torch's global generator, whose
state travels in the checkpoint.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bnn2hw.data import Dataset, load_dataset
from bnn2hw.models import BinaryNet, ModelConfig, build_model
from bnn2hw.train.checkpoint import CheckpointError, load_checkpoint, load_into, save_checkpoint
from bnn2hw.train.evaluate import EVAL_BATCH, evaluate_readouts
from bnn2hw.train.methods import (
    METHODS, Method, ReadOut, binary_weights, latent_weights, make_optimizer, use_weights,
)
from bnn2hw.train.presets import DEFAULT_PRESET, check_preset
from bnn2hw.train.report import write_curves, write_metrics
from bnn2hw.progress import progress as progress_bar


@dataclass(frozen=True)
class TrainConfig:
    model: str = "tfc"
    dataset: str = "digits"
    method: str = Method.BAYESBINN.value
    epochs: int = 20
    lr: float | None = None          # None: the method's default (bnn2hw.train.methods)
    bn_lr: float = 1e-2              # Adam's rate for batchnorm affine and output scale
    batch_size: int = 100
    seed: int = 0
    input_bits: int = 1
    preset: str = DEFAULT_PRESET     # BayesBiNN settings by name (bnn2hw.train.presets); None below: the preset's
    temperature: float | None = None
    mc_samples: int | None = None
    momentum: float | None = None
    lambda_init: float | None = None
    likelihood_scale: float | None = None  # N of the likelihood scaled by this (tempering)
    scale_bound: float | None = None       # natural-gradient scale (1-w²)/(τ(1-μ²)) capped here
    lambda_bound: float | None = None      # |λ| clipped to this after every step
    kl_weight: float | None = None         # strength of the pull towards the prior
    mode_batchnorm_share: float | None = None  # batchnorm stats after training: mode's share, samples' the rest
    test_samples: int = 10           # K of the Bernoulli ensemble at test time
    val_split: float = 0.1
    data_dir: str | None = None
    init: str | None = None          # run a method starts from: lns (needed), pbnet(-s) (transfer), ste (continue)
    pbnet_loss: str = "ce"           # PBNet: cross-entropy of the mean logits ("ce") or per-class BCE of P(score ≥ 0) ("bce")
    lns_noise_rate: float = 0.1      # LNS: ρ, flip rate of the noisy binary labels
    lns_weight: float = 0.1          # LNS: β, weight of the noisy-supervision loss

    def __post_init__(self):
        method = Method(self.method)  # raises on an unknown method
        check_preset(self.preset)
        if method is Method.LNS and self.init is None:
            raise ValueError("method 'lns' fine-tunes a trained run: give init (--init RUN_DIR)")
        if self.init is not None and method not in INIT_METHODS:
            raise ValueError(f"init (--init) is for methods {', '.join(m.value for m in INIT_METHODS)}, "
                             f"not {method.value!r}")
        if self.pbnet_loss not in ("ce", "bce"):
            raise ValueError(f"pbnet_loss (--pbnet-loss) must be 'ce' or 'bce', got {self.pbnet_loss!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.test_samples < 0:
            raise ValueError("epochs and batch_size must be >= 1, test_samples >= 0")
        _check_numbers(self)


# (field, lowest, whether the lowest is allowed, highest or None, whether the highest is allowed); all finite
NUMBER_RANGES = [("lr", 0.0, False, None, False), ("bn_lr", 0.0, True, None, False),
                 ("temperature", 0.0, False, None, False), ("mc_samples", 1, True, None, False),
                 ("momentum", 0.0, True, 1.0, False), ("lambda_init", 0.0, True, None, False),
                 ("likelihood_scale", 0.0, False, None, False), ("lambda_bound", 0.0, False, None, False),
                 ("scale_bound", 0.0, False, None, False), ("kl_weight", 0.0, True, None, False),
                 ("mode_batchnorm_share", 0.0, True, 1.0, True), ("val_split", 0.0, True, 1.0, False),
                 ("seed", 0, True, None, False), ("lns_noise_rate", 0.0, True, 0.5, False),
                 ("lns_weight", 0.0, True, None, False)]


def _check_numbers(config: "TrainConfig") -> None:
    """Refuse NaN, infinite and out-of-range numbers, naming the option (``lr`` is ``--lr``)."""
    for name, low, low_ok, high, high_ok in NUMBER_RANGES:
        value = getattr(config, name)
        if value is None:
            continue
        option = "--" + name.replace("_", "-")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} ({option}) must be a finite number, got {value!r}")
        too_high = high is not None and (value > high or (value == high and not high_ok))
        if value < low or (value == low and not low_ok) or too_high:
            upper = "inf)" if high is None else f"{high:g}{']' if high_ok else ')'}"
            bounds = f"{'[' if low_ok else '('}{low:g}, {upper}"
            raise ValueError(f"{name} ({option}) must be in {bounds}, got {value!r}")
    if config.input_bits not in (1, 8):
        raise ValueError(f"input_bits (--input-bits) must be 1 or 8, got {config.input_bits!r}")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


INIT_METHODS = (Method.LNS, Method.PBNET, Method.PBNET_S, Method.STE)  # STE: plain fine-tuning

# Fields that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = {"epochs", "data_dir", "test_samples"}


def cosine_lr(base: float, step: int, total: int) -> float:
    return 0.5 * base * (1.0 + math.cos(math.pi * min(step, total) / total))


def _model_for(config: TrainConfig, data: Dataset) -> BinaryNet:
    return build_model(ModelConfig(config.model, config.input_bits, data.image_shape, data.num_classes))


def _evaluate_loss_acc(model: BinaryNet, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if len(x) == 0:
        return float("nan"), float("nan")
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), EVAL_BATCH):
            logits = model(torch.from_numpy(x[i:i + EVAL_BATCH]))
            target = torch.from_numpy(y[i:i + EVAL_BATCH])
            loss += F.cross_entropy(logits, target, reduction="sum").item()
            correct += (logits.argmax(1) == target).sum().item()
    model.train()
    return loss / len(x), correct / len(x)


class Trainer:
    """Holds one run's state between epochs."""

    def __init__(self, config: TrainConfig, out_dir: Path, data: Dataset):
        self.config, self.out_dir, self.data = config, Path(out_dir), data
        torch.manual_seed(config.seed)
        self.model = _model_for(config, data)
        self.optimizer = make_optimizer(Method(config.method), self.model, config, len(data.x_train))
        for group in self.optimizer.param_groups:
            group["base_lr"] = group["lr"]
        self.epoch, self.history, self.train_seconds = 0, [], 0.0
        self.steps_per_epoch = math.ceil(len(data.x_train) / config.batch_size)

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
        self.epoch, self.history = ckpt["epoch"], list(ckpt["history"])
        self.train_seconds = ckpt["train_seconds"]
        torch.set_rng_state(ckpt["rng_state"])
        return ckpt

    def save(self, metrics: dict | None = None, extra: dict | None = None) -> None:
        """Checkpoint now; ``extra`` adds keys (a continual sequence's progress) to the same atomic file."""
        save_checkpoint(self.checkpoint_path, {
            **(extra or {}),
            "config": asdict(self.config),
            "model_config": asdict(self.model.config),
            "model_state": self.model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "latent": latent_weights(Method(self.config.method), self.model, self.optimizer),
            "epoch": self.epoch, "history": self.history, "train_seconds": self.train_seconds,
            "metrics": metrics or {}, "rng_state": torch.get_rng_state(),
        })

    def run_epoch(self, progress: bool) -> dict:
        cfg, x, y = self.config, self.data.x_train, self.data.y_train
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg.seed * 100_003 + self.epoch))
        total_steps = cfg.epochs * self.steps_per_epoch
        loss_sum, correct, seen, start = 0.0, 0, 0, time.perf_counter()
        self.model.train()
        bar = progress_bar(range(self.steps_per_epoch), f"epoch {self.epoch + 1}/{cfg.epochs}", enabled=progress)
        for i in bar:
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size].numpy()
            xb, yb = torch.from_numpy(x[idx]), torch.from_numpy(y[idx])
            for group in self.optimizer.param_groups:
                group["lr"] = cosine_lr(group["base_lr"], self.epoch * self.steps_per_epoch + i, total_steps)
            logits_seen = []

            def closure():
                self.optimizer.zero_grad()
                loss, logits = self.train_loss(self.model, self.optimizer, xb, yb)
                loss.backward()
                logits_seen.append(logits.detach())
                return loss

            loss = float(self.optimizer.step(closure).detach())
            if not math.isfinite(loss):
                kept = (f"The last good checkpoint ({self.checkpoint_path}, after epoch {self.epoch}) is kept"
                        if self.epoch else "No checkpoint was written (no epoch finished)")
                raise TrainingDiverged(f"loss became {loss} in epoch {self.epoch + 1}, step {i + 1}; training "
                                       f"stopped. {kept}; try a lower --lr")
            loss_sum += loss * len(idx)
            correct += int((logits_seen[-1].argmax(1) == yb).sum())
            seen += len(idx)
            bar.report(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}")
        seconds = time.perf_counter() - start
        with use_weights(self.model, self.mode_weights()):
            val_loss, val_acc = _evaluate_loss_acc(self.model, self.data.x_val, self.data.y_val)
        return {"epoch": self.epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen,
                "val_loss": val_loss, "val_acc": val_acc, "seconds": seconds}

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
            "test_size": len(self.data.x_test), "readouts": readouts,
            "ensemble": readouts.get("ensemble"), "history": self.history,
        }


def train(config: TrainConfig, out_dir: Path, resume: bool = False, progress: bool = True,
          log=print) -> dict:
    """Train, checkpoint every epoch, then write metrics.json and curves.png."""
    data = load_dataset(config.dataset, config.data_dir, val_fraction=config.val_split, seed=config.seed)
    trainer = Trainer(config, out_dir, data)
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


def saved_config(saved: dict) -> TrainConfig:
    """The TrainConfig a checkpoint stored; one saved before presets existed trained with the paper's."""
    return TrainConfig(**{"preset": "paper", **saved})
