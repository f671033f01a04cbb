"""``bnn2hw train --nproc 2`` end to end: torchrun's launcher, 2 gloo ranks on the CPU, rank 0 writes;
SIGTERM stops every rank keeping the last finished epoch; a rank that dies fails the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bnn2hw.train import TrainConfig, load_checkpoint, train

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ["--model", "tfc", "--dataset", "digits", "--method", "bayesbinn", "--device", "cpu", "--no-progress"]


def _launch(out: Path, *options: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "bnn2hw.cli", "train", "--nproc", "2", *TRAIN, "--out", str(out),
                             *options], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_epoch(out: Path, launcher: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not (out / "checkpoint.pt").is_file():
        assert launcher.poll() is None, launcher.communicate()
        assert time.monotonic() < deadline, "no epoch finished"
        time.sleep(0.2)


def test_two_ranks_train_like_one_process(tmp_path):
    launcher = _launch(tmp_path / "two", "--epochs", "3")
    stdout, stderr = launcher.communicate(timeout=300)
    assert launcher.returncode == 0, stderr
    metrics = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["device"] == "cpu"
    assert stdout.count("mode network (goes to hardware)") == 1  # rank 0 alone prints
    one = train(TrainConfig(model="tfc", dataset="digits", method="bayesbinn", epochs=3, device="cpu"),
                tmp_path / "one", progress=False, log=lambda _: None)
    assert abs(metrics["test_acc"] - one["test_acc"]) <= 0.05, (metrics["test_acc"], one["test_acc"])


def test_sigterm_stops_every_rank_and_keeps_the_last_epoch(tmp_path):
    out = tmp_path / "run"
    launcher = _launch(out, "--epochs", "400")
    _wait_for_epoch(out, launcher)
    workers = psutil.Process(launcher.pid).children(recursive=True)
    launcher.send_signal(signal.SIGTERM)
    _, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode == 130, stderr
    assert "--resume" in stderr
    psutil.wait_procs(workers, timeout=30)
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    kept = load_checkpoint(out / "checkpoint.pt")
    assert 1 <= kept["epoch"] < 400
    resumed = train(TrainConfig(model="tfc", dataset="digits", method="bayesbinn", epochs=kept["epoch"] + 1,
                                device="cpu", test_samples=0), out, resume=True, progress=False, log=lambda _: None)
    assert resumed["epochs"] == kept["epoch"] + 1 and resumed["world_size"] == 1


def _rank_process(launcher: subprocess.Popen, rank: int) -> psutil.Process:
    for child in psutil.Process(launcher.pid).children(recursive=True):
        try:
            if child.environ().get("RANK") == str(rank) and "bnn2hw.cli" in " ".join(child.cmdline()):
                return child
        except psutil.Error:
            continue
    pytest.fail(f"no rank {rank} among the launcher's children")


def test_a_rank_that_dies_fails_the_others(tmp_path):
    out = tmp_path / "run"
    launcher = _launch(out, "--epochs", "400")
    _wait_for_epoch(out, launcher)
    start = time.monotonic()
    _rank_process(launcher, 1).kill()
    _, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode not in (0, None), stderr
    assert time.monotonic() - start < 100
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] >= 1
