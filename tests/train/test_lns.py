"""LNS: the unbiased noisy-label loss identity, fine-tuning from a run, exact compilation."""

from __future__ import annotations

import pytest
import torch

from bnn2hw.compile.api import compile_run
from bnn2hw.train import CheckpointError, TrainConfig, load_checkpoint, train
from bnn2hw.train.lns import RowBinarizer, unbiased_logistic_loss
from tests.conftest import tiny_config

QUIET = dict(progress=False, log=lambda _: None)


@pytest.mark.parametrize("flip_plus, flip_minus", [(0.1, 0.1), (0.3, 0.05), (0.0, 0.4)])
def test_expected_corrected_loss_over_noisy_labels_is_the_clean_loss(flip_plus, flip_minus):
    z = torch.linspace(-4, 4, 17, dtype=torch.float64)
    for clean in (1.0, -1.0):
        flip = flip_plus if clean > 0 else flip_minus
        y = torch.full_like(z, clean)
        expected = ((1 - flip) * unbiased_logistic_loss(z, y, flip_plus, flip_minus)
                    + flip * unbiased_logistic_loss(z, -y, flip_plus, flip_minus))
        assert torch.allclose(expected, torch.nn.functional.softplus(-clean * z))


def test_binarizer_starts_as_the_sign_of_the_weights_and_mixes_whole_rows():
    torch.manual_seed(0)
    b = RowBinarizer(10, hidden=4, rank=2)
    rows = torch.randn(3, 10)
    assert torch.equal(b(rows) >= 0, rows >= 0)
    torch.nn.init.normal_(b.mix_out)
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


def test_lns_needs_a_matching_init_run(tmp_path, tiny_run):
    with pytest.raises(ValueError, match="init"):
        TrainConfig(method="lns")
    with pytest.raises(CheckpointError, match="model"):
        train(tiny_config(method="lns", init=str(tiny_run), model="mlp:16"), tmp_path, **QUIET)
