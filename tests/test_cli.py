"""The command line: train, resume, and one-line errors for bad input."""

from __future__ import annotations

import json

from bnn2hw.cli import main


def test_train_then_resume_with_more_epochs(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--model", "mlp:16", "--epochs", "1", "--out", str(out), "--no-progress", "--test-samples", "2"]
    assert main(args) == 0
    assert "mode network" in capsys.readouterr().out
    assert main(["train", "--epochs", "2", "--out", str(out), "--resume", "--no-progress"]) == 0
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 2


def test_bad_inputs_give_one_line_errors(tmp_path, capsys):
    cases = [
        (["train", "--dataset", "nope", "--out", str(tmp_path / "a")], "unknown dataset"),
        (["train", "--method", "sgd", "--out", str(tmp_path / "b")], "sgd"),
        (["train", "--model", "mlp:x", "--out", str(tmp_path / "c")], "mlp:x"),
        (["train", "--out", str(tmp_path / "d"), "--resume"], "no such checkpoint"),
        (["train", "--dataset", "mnist", "--out", str(tmp_path / "e")], "mnist"),
    ]
    for argv, needle in cases:
        assert main(argv + ["--no-progress"]) == 2, argv
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err, err


def test_compile_command_verifies_and_refuses_a_missing_run(tiny_run, tmp_path, capsys):
    build = tmp_path / "build"
    assert main(["compile", str(tiny_run), "--out", str(build)]) == 0
    verify = json.loads((build / "verify.json").read_text())
    assert verify["label_mismatches"] == 0 and verify["value_mismatches"] == 0
    assert "0 label and 0 score mismatches" in capsys.readouterr().out
    assert main(["compile", str(tmp_path / "missing"), "--out", str(build)]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_continual_and_uncertainty_commands(tiny_run, tmp_path, capsys):
    out = tmp_path / "cl"
    argv = ["train", "--model", "mlp:16", "--epochs", "1", "--continual", "permuted:2", "--out", str(out),
            "--no-progress"]
    assert main(argv) == 0
    report = json.loads((out / "continual.json").read_text())
    assert set(report["methods"]) == {"bayesbinn", "ste"}
    assert len(report["methods"]["bayesbinn"]["acc_matrix"]) == 2
    assert main(["uncertainty", str(tiny_run), "--out", str(tmp_path / "u"), "--samples", "2"]) == 0
    printed = capsys.readouterr().out
    assert "OOD AUROC" in printed and "disagrees with mode" in printed and "have q(w=+1) in [0.05, 0.95]" in printed
    assert (tmp_path / "u" / "reliability.png").is_file()
    assert main(["train", "--method", "lns", "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "init" in capsys.readouterr().err


def test_scores_output_with_rtl_layers_is_accepted(tmp_path, capsys):
    """``--impl rtl --output scores`` builds (tests/eda/test_rtl_scores.py); here it gets as far as
    the missing model.onnx, refused in one line."""
    assert main(["build", str(tmp_path), "--impl", "rtl", "--output", "scores"]) == 2
    err = capsys.readouterr().err
    assert "model.onnx: no such model" in err and "--impl hls" not in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
