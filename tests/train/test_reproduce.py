"""``scripts/reproduce.py`` smoke: the four published runs for one epoch on tiny synthetic MNIST and
CIFAR-10 files, a table beside the anchors, and a second call that reads the finished runs back."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from tests.test_data import make_cifar_dir, make_idx_dataset

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "reproduce.py"


def _reproduce():
    spec = importlib.util.spec_from_file_location("reproduce", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["reproduce"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_reproduce_smoke(tmp_path, capsys):
    reproduce = _reproduce()
    make_idx_dataset(tmp_path / "mnist", n_train=20, n_test=8, hw=(28, 28))
    make_cifar_dir(tmp_path / "cifar", per_batch=4)
    argv = ["--out", str(tmp_path / "out"), "--epochs", "1", "--device", "cpu",
            "--mnist-dir", str(tmp_path / "mnist"), "--cifar-dir", str(tmp_path / "cifar")]
    assert reproduce.main(argv) == 0
    text = (tmp_path / "out" / "reproduce.md").read_text()
    for run in reproduce.RUNS:
        metrics = json.loads((tmp_path / "out" / run.name / "metrics.json").read_text())
        assert (metrics["recipe"], metrics["epochs"], metrics["device"]) == (run.recipe, 1, "cpu")
        assert f"| {run.name} | {run.recipe} | cpu × 1 | 1 |" in text and run.anchor in text
    cnv = json.loads((tmp_path / "out" / "cnv-ste" / "metrics.json").read_text())
    assert cnv["augment"] is True and cnv["model"] == "cnv" and cnv["input_bits"] == 8
    before = (tmp_path / "out" / "cnv-ste" / "metrics.json").stat().st_mtime_ns
    capsys.readouterr()
    assert reproduce.main(argv) == 0  # finished runs are read back, not trained again
    assert (tmp_path / "out" / "cnv-ste" / "metrics.json").stat().st_mtime_ns == before
    assert reproduce.main([*argv, "--runs", "nope"]) == 2
