"""Every bad input a clear error, no silent wrong result, nothing lost (issue 17).

Each case runs the command line in-process (``bnn2hw.cli.main`` / the package's ``driver.main``)
and asserts the exit status (0 done, 1 a failed check, 2 refused), that the one-line message
names the file, option or value, that no traceback is printed, and that artifacts written before
are unchanged (bytes and mtimes). A few cases run as real subprocesses to prove the same outside
pytest. Builds are random-weight networks folded up to the estimates (seconds).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper

from bnn2hw import pipeline
from bnn2hw.cli import main
from bnn2hw.data import CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, DatasetError, load_dataset
from bnn2hw.deploy import deploy
from bnn2hw.hw import build
from bnn2hw.hw.random_net import random_model_onnx
from bnn2hw.output_dir import lock_output
from bnn2hw.train import TrainConfig, save_checkpoint

REPO = Path(__file__).resolve().parents[1]
HW_FILES = ("dataflow.onnx", "folding.json", "verify.json", "estimates.json")


def snapshot(directory: Path) -> dict:
    """{relative path: (bytes, mtime_ns)} of every file below ``directory``."""
    return {p.relative_to(directory).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(directory.rglob("*")) if p.is_file()}


def refused(argv, capsys, needle: str, status: int = 2) -> str:
    """Run the CLI; assert the status, one error line naming ``needle`` and no traceback."""
    assert main([str(a) for a in argv]) == status, argv
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert needle in err, err
    return err


def make_build(root: Path, seed: int = 3) -> Path:
    random_model_onnx(root / "model.onnx", "mlp:16", 1, (1, 8, 8), 10, seed)
    (root / "verify.json").write_text(json.dumps({"dataset": "digits", "label_mismatches": 0}))
    build(root, board="pynq-z2", fps=100_000, verify_limit=4, stop_after="estimates", log=lambda _: None)
    return root


@pytest.fixture(scope="session")
def small_build(tmp_path_factory) -> Path:
    return make_build(tmp_path_factory.mktemp("rob") / "build")


@pytest.fixture(scope="session")
def small_package(small_build, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rob_pkg") / "pkg"
    deploy(small_build, out, log=lambda _: None)
    return out


@pytest.fixture
def build_copy(small_build, tmp_path) -> Path:
    return Path(shutil.copytree(small_build, tmp_path / "build"))


@pytest.fixture
def package_copy(small_package, tmp_path) -> Path:
    return Path(shutil.copytree(small_package, tmp_path / "pkg"))


# ---------------------------------------------------------------- nothing lost

def test_train_refuses_an_existing_run_and_a_second_writer(tiny_run, tmp_path, capsys):
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    before = snapshot(run)
    argv = ["train", "--model", "mlp:16", "--epochs", "1", "--out", run, "--no-progress"]
    refused(argv, capsys, "--force")
    assert snapshot(run) == before
    refused(argv + ["--resume", "--force"], capsys, "--resume")
    with lock_output(tmp_path / "busy"):
        refused(["train", "--out", tmp_path / "busy", "--no-progress"], capsys, "another bnn2hw process")
    assert not list(tmp_path.glob(".*.lock")), "the lock file is removed on release"


def test_out_that_is_a_file_or_unwritable_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "file").write_text("precious")
    refused(["train", "--out", tmp_path / "file", "--no-progress"], capsys, "is not a directory")
    refused(["train", "--out", tmp_path / "file" / "run", "--no-progress"], capsys, "is a file")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "ro"
        locked.mkdir(mode=0o500)
        refused(["train", "--out", locked / "run", "--no-progress"], capsys, "not writable")
    assert (tmp_path / "file").read_text() == "precious"


def test_refused_build_keeps_the_previous_one(build_copy, capsys):
    before = snapshot(build_copy / "hw")
    refused(["build", build_copy, "--fps", "1e12", "--force"], capsys, "1,000,000,000,000 frames/s", status=1)
    assert snapshot(build_copy / "hw") == before
    assert sorted(p.name for p in build_copy.parent.iterdir()) == ["build"], "no temporaries left"


def test_a_build_killed_mid_way_gets_its_previous_hw_back(build_copy, capsys):
    before = snapshot(build_copy / "hw")
    os.rename(build_copy / "hw", build_copy / ".hw.backup-999999999")  # what a kill -9 mid-build leaves
    (build_copy / "hw").mkdir()
    (build_copy / "hw" / "partial.onnx").write_text("half written")
    assert main(["simulate", str(build_copy), "--limit", "5"]) == 0
    assert snapshot(build_copy / "hw") == before
    assert sorted(p.name for p in build_copy.iterdir() if p.name.startswith(".")) == []


def _bad_model(path: Path, kind: str) -> None:
    if kind == "empty":
        path.write_bytes(b"")
        return
    if kind == "text":
        path.write_text("not onnx at all")
        return
    model = onnx.load(str(path))
    if kind == "float":
        init = next(i for i in model.graph.initializer if i.name.startswith("weights"))
        w = np.random.default_rng(0).normal(size=numpy_helper.to_array(init).shape).astype(np.float32)
        init.CopyFrom(numpy_helper.from_array(w, init.name))
    else:  # a Sin after the first MatMul
        node = next(n for n in model.graph.node if n.op_type == "MatMul")
        out, node.output[0] = node.output[0], "before_sin"
        model.graph.node.insert(list(model.graph.node).index(node) + 1,
                                helper.make_node("Sin", ["before_sin"], [out], name="Sin_0"))
    onnx.save(model, str(path))


@pytest.mark.parametrize("kind, needle", [("empty", "empty file"), ("text", "not an ONNX model"),
                                          ("float", "non-binary weights"), ("sin", "Sin (Sin_0)")])
def test_build_refuses_a_bad_model_and_keeps_the_previous_build(build_copy, capsys, kind, needle):
    before = snapshot(build_copy / "hw")
    _bad_model(build_copy / "model.onnx", kind)
    err = refused(["build", build_copy, "--force"], capsys, needle)
    assert "model.onnx" in err
    assert snapshot(build_copy / "hw") == before


def test_malformed_board_yaml_is_one_line(build_copy, tmp_path, capsys):
    board = tmp_path / "board.yaml"
    board.write_text("name: [unclosed\n  part: {")
    refused(["build", build_copy, "--board", board, "--force"], capsys, "board.yaml")
    board.write_text("- just\n- a list\n")
    refused(["build", build_copy, "--board", board, "--force"], capsys, "not a valid board file")


def test_compile_refuses_an_existing_build_and_force_replaces_it(tiny_run, tmp_path, capsys):
    out = tmp_path / "build"
    assert main(["compile", str(tiny_run), "--out", str(out)]) == 0
    assert "torch float vs integer network" in capsys.readouterr().out
    (out / "hw").mkdir()
    (out / "hw" / "dataflow.onnx").write_text("stale")
    before = snapshot(out)
    refused(["compile", tiny_run, "--out", out], capsys, "--force")
    assert snapshot(out) == before
    assert main(["compile", str(tiny_run), "--out", str(out), "--force"]) == 0
    assert not (out / "hw").exists(), "the old build's hardware does not outlive its model"
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.tex").write_text("x")
    refused(["compile", tiny_run, "--out", tmp_path / "notes", "--force"], capsys, "not a bnn2hw build")


def test_failed_deploy_keeps_the_previous_package(small_build, package_copy, capsys):
    before = snapshot(package_copy)
    refused(["deploy", small_build, "--out", package_copy], capsys, "--force")
    refused(["deploy", small_build, "--out", package_copy, "--force", "--ensemble", "2"], capsys,
            "runtime-writable weights")
    assert snapshot(package_copy) == before
    assert sorted(p.name for p in package_copy.parent.iterdir()) == ["pkg"], "no temporaries left"


def test_checkpoint_temporaries_are_cleaned(tmp_path):
    path = tmp_path / "checkpoint.pt"
    stale = tmp_path / ".checkpoint.pt.tmp-999999999"
    stale.write_bytes(b"left by a killed writer")
    save_checkpoint(path, {"x": torch.zeros(1)})
    assert not stale.exists() and path.is_file()
    with pytest.raises(Exception):
        save_checkpoint(path, {"x": lambda: None})  # cannot be pickled
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


# ---------------------------------------------------------------- no silent wrong result

def test_data_dir_is_never_passed_over(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for data_dir, needle in [(tmp_path / "missing", "no such directory"), (tmp_path / "empty", "not found")]:
        err = refused(["train", "--dataset", "fashion-mnist", "--data-dir", data_dir, "--out", tmp_path / "r",
                       "--no-progress"], capsys, str(data_dir))
        assert needle in err and "/usr/share" not in err
    refused(["train", "--data-dir", tmp_path / "empty", "--out", tmp_path / "r", "--no-progress"], capsys,
            "digits is embedded")


def test_cifar_float_labels_and_empty_test_split_are_refused(tmp_path):
    for name in CIFAR10_TRAIN_FILES + (CIFAR10_TEST_FILE,):
        with open(tmp_path / name, "wb") as f:
            pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1.0, 2.5]}, f, protocol=2)
    with pytest.raises(DatasetError, match="data_batch_1: b'labels' must be integers"):
        load_dataset("cifar10", tmp_path)
    for name in CIFAR10_TRAIN_FILES:
        with open(tmp_path / name, "wb") as f:
            pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2]}, f, protocol=2)
    with open(tmp_path / CIFAR10_TEST_FILE, "wb") as f:
        pickle.dump({b"data": np.zeros((0, 3072), np.uint8), b"labels": []}, f, protocol=2)
    with pytest.raises(DatasetError, match="test split has no images"):
        load_dataset("cifar10", tmp_path)


def _tampered_run(tiny_run: Path, out: Path, change) -> Path:
    shutil.copytree(tiny_run, out)
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    change(ckpt)
    torch.save(ckpt, out / "checkpoint.pt")
    return out


def test_non_finite_or_misshapen_latent_is_refused_at_compile(tiny_run, tmp_path, capsys):
    def nan(ckpt):
        ckpt["latent"][1][0, 0] = float("nan")

    def shape(ckpt):
        ckpt["latent"][0] = ckpt["latent"][0][:, :5]

    refused(["compile", _tampered_run(tiny_run, tmp_path / "nan", nan), "--out", tmp_path / "b1"], capsys,
            "latent[1]")
    refused(["compile", _tampered_run(tiny_run, tmp_path / "shape", shape), "--out", tmp_path / "b2"], capsys,
            "has shape")
    assert not (tmp_path / "b1").exists() and not (tmp_path / "b2").exists()


def test_failed_checks_exit_1(build_copy, tmp_path, capsys, monkeypatch):
    random_model_onnx(build_copy / "model.onnx", "mlp:16", 1, (1, 8, 8), 10, seed=99)  # hw no longer matches
    err = refused(["simulate", build_copy], capsys, "mismatches with model.onnx", status=1)
    assert "sim.json" in err

    def compile_with_mismatches(run_dir, out_dir, sample=None, data_dir=None, posterior_bits=0):
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "model.onnx").write_text("x")
        return {"images": 10, "label_mismatches": 2, "value_mismatches": 5, "model": "m", "readout": "mode",
                "compile_seconds": 0.0, "dataset": "digits", "reference": "r", "integer_accuracy": 1.0}
    monkeypatch.setattr(pipeline.building, "compile_run", compile_with_mismatches)
    (tmp_path / "run").mkdir()
    refused(["compile", tmp_path / "run", "--out", tmp_path / "b"], capsys, "2 label and 5 score mismatches",
            status=1)


def test_negative_counts_are_refused_everywhere(tiny_run, small_build, tmp_path, capsys):
    cases = [
        (["compile", tiny_run, "--out", tmp_path / "c", "--samples", "-2"], "--samples"),
        (["compile", tiny_run, "--out", tmp_path / "c", "--sample", "-1"], "--sample"),
        (["simulate", small_build, "--ensemble", "-1"], "--ensemble"),
        (["simulate", small_build, "--limit", "0"], "--limit"),
        (["deploy", small_build, "--out", tmp_path / "d", "--ensemble", "-1"], "--ensemble"),
        (["deploy", small_build, "--out", tmp_path / "d", "--test-limit", "-1"], "--test-limit"),
        (["build", small_build, "--verify-limit", "-3"], "--verify-limit"),
        (["uncertainty", tiny_run, "--samples", "-1"], "--samples"),
        (["train", "--lr", "nan", "--out", tmp_path / "t", "--no-progress"], "--lr"),
        (["train", "--momentum", "1.5", "--out", tmp_path / "t", "--no-progress"], "--momentum"),
    ]
    before = snapshot(small_build)
    for argv, needle in cases:
        refused(argv, capsys, needle)
    assert snapshot(small_build) == before
    assert not any((tmp_path / d).exists() for d in ("c", "d", "t"))


# ---------------------------------------------------------------- the deploy driver

def _driver(package: Path, *argv) -> tuple[int, str, str]:
    from bnn2hw.deploy.package import load_driver
    import contextlib
    import io
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = load_driver(package).main([str(a) for a in argv], package=package)
    return status, out.getvalue(), err.getvalue()


def test_driver_refuses_bad_inputs(package_copy, tmp_path):
    images = np.load(package_copy / "data" / "test.npz")["images"]
    np.save(tmp_path / "objects.npy", np.array([images[0], "x"], dtype=object), allow_pickle=True)
    np.save(tmp_path / "empty.npy", images[:0])
    np.save(tmp_path / "ok.npy", images[:3])
    (tmp_path / "text.npy").write_text("hello")
    np.savez(tmp_path / "two.npz", a=images[:1])
    cases = [
        (["--inputs", tmp_path / "missing.npy"], "missing.npy: no such file"),
        (["--inputs", tmp_path / "text.npy"], "text.npy: not a .npy"),
        (["--inputs", tmp_path / "two.npz"], ".npz archive"),
        (["--inputs", tmp_path / "objects.npy"], "objects.npy"),
        (["--inputs", tmp_path / "empty.npy"], "no images"),
        (["--inputs", tmp_path / "ok.npy", "--limit", "0"], "--limit"),
        (["--validate", "--limit", "-1"], "--limit"),
    ]
    for argv, needle in cases:
        status, _, err = _driver(package_copy, *argv, "--backend", "sim")
        assert status == 2 and needle in err and "Traceback" not in err, (argv, err)
    assert _driver(package_copy, "--inputs", tmp_path / "ok.npy", "--backend", "sim")[0] == 0


def _edit_spec(package: Path, change) -> None:
    spec = json.loads((package / "io_spec.json").read_text())
    change(spec)
    (package / "io_spec.json").write_text(json.dumps(spec))


@pytest.mark.parametrize("change, needle", [
    (lambda s: s["output"].update(kind="scores"), "io_spec.json"),
    (lambda s: s["image"].update(range=[0, 1]), "io_spec.json: sha256 differs from package.sha256"),
    (lambda s: s.update(classes=s["classes"][::-1]), "package.sha256"),
    (lambda s: s.update(manifest={}), "manifest lacks data/test.npz"),
    (lambda s: s["output"].update(kind="probabilities"), "output.kind"),
    (lambda s: s.pop("input"), "lacks input"),
    (lambda s: s.update(classes=["a"] * 10), "distinct"),
])
def test_driver_trusts_no_edited_io_spec(package_copy, change, needle):
    _edit_spec(package_copy, change)
    status, _, err = _driver(package_copy, "--validate", "--backend", "sim")
    assert status == 2 and needle in err and "Traceback" not in err, err


def test_driver_refuses_io_spec_that_is_not_json_or_unchecked(package_copy):
    (package_copy / "package.sha256").unlink()
    status, _, err = _driver(package_copy, "--validate", "--backend", "sim")
    assert status == 2 and "package.sha256: no such file" in err
    (package_copy / "io_spec.json").write_text("{not json")
    status, _, err = _driver(package_copy, "--validate", "--backend", "sim")
    assert status == 2 and "io_spec.json: not valid JSON" in err and "Traceback" not in err


def test_driver_validate_exits_1_when_labels_differ_from_the_simulator(package_copy):
    data = dict(np.load(package_copy / "data" / "test.npz"))
    data["expected"] = (data["expected"] + 1) % 10
    np.savez_compressed(package_copy / "data" / "test.npz", **data)
    from bnn2hw.deploy.package import write_checksums
    _edit_spec(package_copy, lambda s: s["manifest"].update(
        {"data/test.npz": __import__("hashlib").sha256((package_copy / "data/test.npz").read_bytes()).hexdigest()}))
    write_checksums(package_copy)
    status, out, err = _driver(package_copy, "--validate", "--backend", "sim")
    assert status == 1 and "not bit-exact" in err
    assert json.loads(out)["mismatches_with_simulator"] > 0


# ---------------------------------------------------------------- real processes, no tracebacks

def _run(argv: list, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *map(str, argv)], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)


def test_subprocess_errors_have_no_traceback(build_copy, package_copy, tmp_path):
    (build_copy / "model.onnx").write_text("not onnx")
    result = _run(["-m", "bnn2hw.cli", "build", build_copy, "--force"])
    assert result.returncode == 2 and "not an ONNX model" in result.stderr and "Traceback" not in result.stderr
    result = _run([package_copy / "driver.py", "--inputs", tmp_path / "nope.npy", "--backend", "sim"])
    assert result.returncode == 2 and "nope.npy" in result.stderr and "Traceback" not in result.stderr
    result = _run(["-m", "bnn2hw.cli", "--help"])
    assert result.returncode == 0 and "exit status" in result.stdout and "refused input" in result.stdout


def test_zero_test_images_is_an_early_error(tmp_path, capsys):
    from tests.test_data import make_idx_dataset
    make_idx_dataset(tmp_path / "mnist", n_test=0)
    refused(["train", "--dataset", "mnist", "--data-dir", tmp_path / "mnist", "--out", tmp_path / "r",
             "--no-progress"], capsys, "test split has no images")
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_diverged_first_epoch_claims_no_checkpoint(tmp_path):
    from bnn2hw.train import TrainingDiverged, train
    from bnn2hw.train.loop import Trainer
    config = TrainConfig(model="mlp:8", epochs=1, batch_size=64, method="ste")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Trainer, "train_loss", lambda self, *a: (torch.tensor(float("nan"), requires_grad=True),
                                                            torch.zeros(len(a[3]), 10)))
        with pytest.raises(TrainingDiverged, match="No checkpoint was written"):
            train(config, tmp_path, progress=False, log=lambda _: None)
