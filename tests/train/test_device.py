"""--device, CPU checkpoints, augmentation on uint8 images, the step schedule and the recipes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bnn2hw.cli import main
from bnn2hw.train.augment import PAD, augment_batch, epoch_augmentation
from bnn2hw.train.config import TrainConfig, augment_enabled, scheduled_lr
from bnn2hw.train.device import resolve_device, to_cpu
from bnn2hw.train.recipes import RECIPES, recipe_options
from tests.conftest import tiny_config

QUIET = dict(progress=False, log=lambda _: None)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_cuda_exits_2_with_one_line(tmp_path, capsys, device):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--device", device, "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"--device {device}" in err and "--device cpu" in err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("bad", ["gpu", "cuda:", "CPU", "cuda:x"])
def test_bad_device_names_are_refused(bad, capsys, tmp_path):
    assert main(["train", "--device", bad, "--out", str(tmp_path / "r")]) == 2
    assert "--device" in capsys.readouterr().err


def test_auto_is_the_cpu_without_a_gpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected and resolve_device("cpu").type == "cpu"


def test_metrics_record_device_and_world_size_and_the_checkpoint_holds_cpu_tensors(tmp_path):
    from bnn2hw.train import train

    train(tiny_config(method="ste", epochs=1, device="cpu"), tmp_path, **QUIET)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["device"] == "cpu" and metrics["world_size"] == 1 and metrics["augment"] is False
    raw = torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # no map_location: as saved

    def devices(obj):
        if torch.is_tensor(obj):
            return {obj.device.type}
        values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else []
        return set().union(*(devices(v) for v in values)) if values else set()
    assert devices(raw) == {"cpu"}


def test_to_cpu_keeps_the_structure_and_values_of_nested_state():
    state = {"a": torch.ones(2), "nested": [torch.zeros(3), {"step": 4, "m": torch.arange(3.0)}], "t": (torch.ones(1),)}
    on_cpu = to_cpu(state)
    assert torch.equal(on_cpu["a"], state["a"]) and on_cpu["nested"][1]["step"] == 4
    assert torch.equal(on_cpu["nested"][1]["m"], torch.arange(3.0)) and isinstance(on_cpu["t"], tuple)
    assert all(t.device.type == "cpu" for t in (on_cpu["a"], on_cpu["nested"][0], on_cpu["t"][0]))


def _reference_crop_flip(image: np.ndarray, dy: int, dx: int, flip: bool) -> np.ndarray:
    c, h, w = image.shape
    padded = np.zeros((c, h + 2 * PAD, w + 2 * PAD), np.uint8)
    padded[:, PAD:PAD + h, PAD:PAD + w] = image
    crop = padded[:, dy:dy + h, dx:dx + w]
    return crop[:, :, ::-1] if flip else crop


def test_augmentation_is_padded_crop_and_flip_of_raw_bytes():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 3, 7, 9), dtype=np.uint8)
    offsets, flips = epoch_augmentation(len(images), seed=1, epoch=2)
    out = augment_batch(torch.from_numpy(images), offsets, flips)
    assert out.dtype == torch.uint8 and tuple(out.shape) == images.shape
    expected = np.stack([_reference_crop_flip(im, int(o[0]), int(o[1]), bool(f))
                         for im, o, f in zip(images, offsets, flips)])
    assert np.array_equal(out.numpy(), expected)
    assert 0 < int(flips.sum()) < len(flips) and int(offsets.min()) == 0 and int(offsets.max()) == 2 * PAD
    again, _ = epoch_augmentation(len(images), seed=1, epoch=2)
    other, _ = epoch_augmentation(len(images), seed=1, epoch=3)
    assert torch.equal(again, offsets) and not torch.equal(other, offsets)


def test_augment_defaults_on_for_cifar10_only():
    assert augment_enabled(TrainConfig(dataset="cifar10")) and not augment_enabled(TrainConfig(dataset="mnist"))
    assert not augment_enabled(TrainConfig(dataset="cifar10", augment=False))
    assert augment_enabled(TrainConfig(dataset="digits", augment=True))


def test_step_schedule_halves_every_period():
    config = TrainConfig(epochs=100, lr_schedule="step:40:0.5")
    rates = [scheduled_lr(config, 0.02, epoch * 10, steps_per_epoch=10) for epoch in (0, 39, 40, 79, 80, 99)]
    assert rates == [0.02, 0.02, 0.01, 0.01, 0.005, 0.005]
    with pytest.raises(ValueError, match="--lr-schedule"):
        TrainConfig(lr_schedule="step:0:0.5")


def test_recipes_build_configs_and_the_user_wins(tmp_path, capsys):
    for name in RECIPES:
        config = TrainConfig(**recipe_options(name))
        assert config.recipe == name
    cnv = TrainConfig(**recipe_options("brevitas-cnv"))
    assert (cnv.method, cnv.lr, cnv.batch_size, cnv.epochs, cnv.lr_schedule, cnv.input_bits) == \
           ("ste", 0.02, 100, 1000, "step:40:0.5", 8) and augment_enabled(cnv)
    bayes = TrainConfig(**recipe_options("bayesbinn-cifar10"))
    assert (bayes.lr, bayes.batch_size, bayes.likelihood_scale, bayes.bn_lr, bayes.preset) == \
           (3e-4, 50, 10.0, 0.0, "paper")
    out = tmp_path / "r"
    assert main(["train", "--recipe", "brevitas-tfc", "--dataset", "digits", "--epochs", "1", "--test-samples", "0",
                 "--out", str(out), "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["recipe"], metrics["method"], metrics["dataset"], metrics["epochs"]) == \
           ("brevitas-tfc", "ste", "digits", 1)
    with pytest.raises(SystemExit) as refused:  # argparse's choices: exit 2, one usage line and the error
        main(["train", "--recipe", "nope", "--out", str(tmp_path / "n")])
    assert refused.value.code == 2 and "--recipe" in capsys.readouterr().err
