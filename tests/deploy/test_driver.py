"""The packaged driver: sim backend from a bare copy of the package, refusals, and its imports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bnn2hw.deploy import DeployError, check_build
from bnn2hw.deploy.package import load_driver
from bnn2hw.sim import Accelerator
from tests.deploy.conftest import quiet_deploy

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("torch", "finn", "qonnx", "bnn2hw", "onnx", "onnxruntime", "pynq", "brevitas")


def run_driver(package: Path, *args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(package / "driver.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def copy_alone(package: Path, tmp_path: Path) -> Path:
    """The package copied into an otherwise empty folder, which is also the working directory."""
    root = tmp_path / "alone"
    root.mkdir()
    shutil.copytree(package, root / package.name)
    return root


@pytest.mark.parametrize("which", ["tfc_build", "mlp8_build"])
def test_sim_backend_subprocess_matches_bnn2hw_sim(which, request, tmp_path):
    build_dir = request.getfixturevalue(which)
    package = tmp_path / "pkg"
    quiet_deploy(build_dir, package, verify_limit=0)
    root = copy_alone(package, tmp_path)
    out = root / "labels.npy"
    result = run_driver(root / "pkg", "--validate", "--backend", "sim", "--batch", "64", "--output", str(out), cwd=root)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    data = np.load(package / "data" / "test.npz")
    expected = Accelerator.load(build_dir / "hw").run(data["images"]).labels[:, 0]
    labels = np.load(out)
    assert report["images"] == len(data["images"]) == len(labels) == 359
    assert np.array_equal(labels, expected)
    assert report["accuracy"] == pytest.approx(float(np.mean(expected == data["labels"])))


def test_inputs_option_prints_classes(tfc_package, tmp_path):
    root = copy_alone(tfc_package, tmp_path)
    images = np.load(tfc_package / "data" / "test.npz")["images"][:7]
    np.save(root / "images.npy", images)
    result = run_driver(root / tfc_package.name, "--inputs", "images.npy", "--backend", "sim", "--batch", "3", cwd=root)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    expected = Accelerator.load(tfc_package / "sim").run(images).labels[:, 0]
    assert report["labels"] == expected.tolist() and report["classes"] == [str(i) for i in expected]


def test_benchmark_reports_rate_and_latency(tfc_package):
    driver = load_driver(tfc_package)
    spec = driver.load_spec(tfc_package)
    result = driver.benchmark(driver.SimBackend(spec, tfc_package, 16), spec, 16, repeats=2)
    assert result["images_per_s"] > 0 and result["batch_latency_ms"] > 0


def refused(package: Path, *args, capsys) -> str:
    driver = load_driver(package)
    assert driver.main(list(args), package=package) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("images,message", [
    (np.zeros((2, 8, 8), np.uint8), "shape"),
    (np.zeros((2, 1, 8, 9), np.uint8), "shape"),
    (np.zeros((2, 1, 8, 8), np.float32), "dtype"),
    (np.full((2, 1, 8, 8), 256, np.int16), "out of range"),
    (np.full((2, 1, 8, 8), -1, np.int16), "out of range"),
])
def test_bad_images_are_refused(tfc_package, tmp_path, capsys, images, message):
    np.save(tmp_path / "bad.npy", images)
    err = refused(tfc_package, "--inputs", str(tmp_path / "bad.npy"), "--backend", "sim", capsys=capsys)
    assert message in err


def test_pynq_backend_without_bitfile_says_vivado(tfc_package, capsys):
    err = refused(tfc_package, "--validate", capsys=capsys)
    assert "no bitfile" in err and "Vivado" in err


def test_package_from_another_build_is_refused(tfc_package, mlp8_build, tmp_path, capsys):
    mixed = tmp_path / "mixed"
    shutil.copytree(tfc_package, mixed)
    other = tmp_path / "other"
    quiet_deploy(mlp8_build, other, verify_limit=0)
    shutil.copy(other / "sim" / "dataflow.onnx", mixed / "sim" / "dataflow.onnx")
    err = refused(mixed, "--validate", "--backend", "sim", capsys=capsys)
    assert "another build" in err and "checksum" in err
    with pytest.raises(DeployError, match="another build"):
        check_build(tfc_package, mlp8_build)


def test_changed_test_data_is_refused(tfc_package, tmp_path, capsys):
    changed = tmp_path / "changed"
    shutil.copytree(tfc_package, changed)
    data = dict(np.load(changed / "data" / "test.npz"))
    data["labels"] = (data["labels"] + 1) % 10
    np.savez_compressed(changed / "data" / "test.npz", **data)
    assert "sha256 differs" in refused(changed, "--validate", "--backend", "sim", capsys=capsys)


def test_ensemble_without_weights_is_refused(tfc_package, capsys):
    assert "weight samples" in refused(tfc_package, "--validate", "--backend", "sim", "--ensemble", "2", capsys=capsys)


def test_deploy_refuses_missing_build_and_foreign_folder(tmp_path, tfc_build):
    with pytest.raises(DeployError, match="bnn2hw build"):
        quiet_deploy(tmp_path / "nothing", tmp_path / "out")
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "thesis.tex").write_text("x")
    with pytest.raises(DeployError, match="not a bnn2hw package"):
        quiet_deploy(tfc_build, tmp_path / "precious")
    assert (tmp_path / "precious" / "thesis.tex").exists()


def test_driver_imports_only_numpy(tfc_package):
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import driver; "
            f"print([m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}])")
    result = subprocess.run([sys.executable, "-c", code, str(tfc_package)], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_deploy_imports_no_torch_or_finn(tfc_build, tmp_path):
    code = ("import sys; from bnn2hw.deploy import deploy; "
            "deploy(sys.argv[1], sys.argv[2], log=lambda _: None); "
            "print([m for m in sys.modules if m.split('.')[0] in ('torch', 'finn', 'qonnx', 'brevitas', 'pynq')])")
    result = subprocess.run([sys.executable, "-c", code, str(tfc_build), str(tmp_path / "pkg")], capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_deploy_sources_import_no_torch_or_finn():
    import ast
    for path in (REPO / "bnn2hw" / "deploy").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in ("torch", "finn", "qonnx", "brevitas"), (path, name)
