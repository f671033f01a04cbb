"""LNS: the unbiased noisy-label loss identity, fine-tuning from a run, exact compilation."""

from __future__ import annotations

import pytest
import torch

from bnn2hw.compile.api import compile_run
from bnn2hw.train import CheckpointError, TrainConfig, load_checkpoint, train
from bnn2hw.train.lns import RowBinarizer, binary_logits, lns_loss, squared_loss, unbiased_squared_loss
from tests.conftest import tiny_config

QUIET = dict(progress=False, log=lambda _: None)


@pytest.mark.parametrize("flip_plus, flip_minus", [(0.1, 0.1), (0.3, 0.05), (0.0, 0.4)])
def test_expected_corrected_loss_over_noisy_labels_is_the_clean_loss(flip_plus, flip_minus):
    z = torch.linspace(-4, 4, 17, dtype=torch.float64)
    for clean in (1.0, -1.0):
        flip = flip_plus if clean > 0 else flip_minus
        y = torch.full_like(z, clean)
        expected = ((1 - flip) * unbiased_squared_loss(z, y, flip_plus, flip_minus)
                    + flip * unbiased_squared_loss(z, -y, flip_plus, flip_minus))
        assert torch.allclose(expected, squared_loss(torch.nn.functional.hardtanh(z), y))


def test_corrected_loss_is_bounded_below_and_flat_outside_the_window():
    z = torch.linspace(-500, 500, 2001, dtype=torch.float64, requires_grad=True)
    for rho in (0.1, 0.3, 0.45):
        for label in (1.0, -1.0):
            loss = unbiased_squared_loss(z, torch.full_like(z, label), rho, rho)
            bound = -rho * 4 / (1 - 2 * rho)           # ℓ ∈ [0, 4]
            assert loss.min() >= bound - 1e-9
            grad, = torch.autograd.grad(loss.sum(), z)
            outside = z.detach().abs() > 1
            assert torch.equal(grad[outside], torch.zeros_like(grad[outside]))
            assert grad[~outside].abs().max() > 0


def test_binarizer_starts_as_the_sign_of_the_weights_and_mixes_whole_rows():
    torch.manual_seed(0)
    b = RowBinarizer(10, hidden=4)
    rows = torch.randn(3, 10)
    assert torch.equal(b(rows) >= 0, rows >= 0)
    torch.nn.init.normal_(b.mlp[2].weight)
    changed = rows.clone()
    changed[0, 0] += 5.0
    diff = (b(changed) - b(rows)).abs()
    assert (diff[0, 1:] > 0).any() and torch.equal(diff[1:], torch.zeros_like(diff[1:]))


def test_lns_fine_tunes_a_ste_run_and_compiles_exactly(tmp_path):
    train(tiny_config(method="ste", epochs=2), tmp_path / "ste", **QUIET)
    metrics = train(tiny_config(method="lns", init=str(tmp_path / "ste"), epochs=1), tmp_path / "lns", **QUIET)
    assert metrics["test_acc"] > 0.6
    ckpt = load_checkpoint(tmp_path / "lns" / "checkpoint.pt")
    assert ckpt["config"]["init"] == str(tmp_path / "ste") and "binarizers" in ckpt["optimizer_state"]
    report = compile_run(tmp_path / "lns", tmp_path / "build")
    assert report["label_mismatches"] == 0 and report["value_mismatches"] == 0


def test_ste_fine_tuning_control_continues_the_run(tmp_path):
    train(tiny_config(method="ste", epochs=2), tmp_path / "ste", **QUIET)
    source = load_checkpoint(tmp_path / "ste" / "checkpoint.pt")
    tuned = train(tiny_config(method="ste", init=str(tmp_path / "ste"), epochs=1, lr=1e-4), tmp_path / "ft", **QUIET)
    after = load_checkpoint(tmp_path / "ft" / "checkpoint.pt")["latent"]
    agree = torch.cat([(torch.sign(a) == torch.sign(b)).flatten() for a, b in zip(source["latent"], after)])
    assert agree.float().mean() > 0.95 and tuned["test_acc"] >= source["metrics"]["test_acc"] - 0.05
    with pytest.raises(ValueError, match="init"):
        TrainConfig(method="bayesbinn", init=str(tmp_path / "ste"))


def test_lns_needs_a_matching_init_run(tmp_path, tiny_run):
    with pytest.raises(ValueError, match="init"):
        TrainConfig(method="lns")
    with pytest.raises(CheckpointError, match="model"):
        train(tiny_config(method="lns", init=str(tiny_run), model="mlp:16"), tmp_path, **QUIET)


def test_supervision_weight_enters_the_loss_and_pulls_towards_the_source_signs(tmp_path):
    train(tiny_config(method="ste", epochs=2), tmp_path / "ste", **QUIET)
    agreement = {}
    for weight in (0.0, 2.0):
        cfg = tiny_config(method="lns", init=str(tmp_path / "ste"), epochs=2, lns_weight=weight, lns_noise_rate=0.2)
        train(cfg, tmp_path / f"lns-{weight}", **QUIET)
        source = load_checkpoint(tmp_path / "ste" / "checkpoint.pt")["latent"]
        tuned = load_checkpoint(tmp_path / f"lns-{weight}" / "checkpoint.pt")["latent"]
        agreement[weight] = float(torch.cat([(torch.sign(a) == torch.sign(b)).flatten()
                                             for a, b in zip(source, tuned)]).float().mean())
    assert agreement[2.0] > agreement[0.0], agreement


def test_lns_loss_adds_the_weighted_supervision(tmp_path):
    from bnn2hw.models import ModelConfig, build_model
    from bnn2hw.train.methods import make_optimizer
    train(tiny_config(method="ste", epochs=1), tmp_path / "ste", **QUIET)
    images, labels = torch.randint(0, 256, (8, 1, 8, 8), dtype=torch.uint8), torch.randint(0, 10, (8,))
    losses = {}
    for weight in (0.0, 0.5):
        torch.manual_seed(0)
        cfg = tiny_config(method="lns", init=str(tmp_path / "ste"), lns_weight=weight)
        model = build_model(ModelConfig(cfg.model, 1, (1, 8, 8), 10))
        optimizer = make_optimizer("lns", model, cfg, 100)
        losses[weight] = float(lns_loss(model, optimizer, images, labels)[0].detach())
        z = binary_logits(model, optimizer)
        supervision = torch.cat([unbiased_squared_loss(t.reshape(t.shape[0], -1), n, 0.1, 0.1).flatten()
                                 for t, n in zip(z, optimizer.noisy_labels)]).mean()
    assert abs(losses[0.5] - losses[0.0] - 0.5 * float(supervision)) < 1e-5 and float(supervision) != 0
