"""The pynq backend up to the device boundary (fake pynq), runtime weights and posterior ensembles."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from bnn2hw.deploy import DeployError
from bnn2hw.deploy.package import load_driver
from bnn2hw.sim import Accelerator
from tests.deploy import fake_pynq
from tests.deploy.conftest import quiet_deploy

HWH = b'<?xml version="1.0"?><EDKSYSTEM><MODULES><MODULE INSTANCE="clk_wiz_0"/></MODULES></EDKSYSTEM>'


def with_bitfile(build_dir: Path, dst: Path) -> Path:
    """A copy of a build as if Vivado had made its bitfile (fake bytes)."""
    shutil.copytree(build_dir, dst)
    (dst / "hw" / "bitfile").mkdir(exist_ok=True)
    (dst / "hw" / "bitfile" / "finn-accel.bit").write_bytes(b"not really a bitstream")
    (dst / "hw" / "bitfile" / "finn-accel.hwh").write_bytes(HWH)
    return dst


def board_package_of(build_dir: Path, root: Path) -> Path:
    """The deploy package of a build that has (fake) bitfile bytes."""
    quiet_deploy(with_bitfile(build_dir, root / "build"), root / "pkg")
    return root / "pkg"


@pytest.fixture(scope="module")
def board_package(tfc_build, tmp_path_factory) -> Path:
    return board_package_of(tfc_build, tmp_path_factory.mktemp("board"))


@pytest.fixture(scope="module")
def board_rt_package(runtime_build, tmp_path_factory) -> Path:
    return board_package_of(runtime_build, tmp_path_factory.mktemp("board_rt"))


def test_pynq_backend_gives_the_simulator_labels(board_package, monkeypatch):
    fake_pynq.install(monkeypatch)
    driver = load_driver(board_package)
    spec = driver.load_spec(board_package)
    driver.check_package(spec, board_package)
    data = np.load(board_package / "data" / "test.npz")
    backend = driver.PynqBackend(spec, board_package, batch=50)
    labels, _ = driver.predict(backend, data["images"], spec, board_package)
    expected = Accelerator.load(board_package / "sim").run(data["images"]).labels[:, 0]
    assert np.array_equal(labels, expected)
    overlay = fake_pynq.Overlay.instances[-1]
    assert overlay.runs == -(-len(labels) // 50)
    assert sys.modules["pynq.ps"].Clocks.fclk0_mhz == 100.0          # FINN's clocking wizard input
    offsets = [o for o, _ in overlay.idma0.log[:4]]
    assert offsets == [0x10, 0x14, 0x1C, 0x00] and backend.ibuf.flushed and backend.obuf.invalidated


def test_pynq_main_validate(board_package, monkeypatch, capsys):
    fake_pynq.install(monkeypatch)
    driver = load_driver(board_package)
    assert driver.main(["--validate", "--batch", "128"], package=board_package) == 0
    assert '"accuracy"' in capsys.readouterr().out


def test_without_pynq_the_message_says_board(board_package, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pynq", None)
    driver = load_driver(board_package)
    assert driver.main(["--validate"], package=board_package) == 2
    assert "needs a PYNQ board" in capsys.readouterr().err


def test_runtime_weights_packaged_as_finn_files(board_rt_package, runtime_build):
    driver = load_driver(board_rt_package)
    spec = driver.load_spec(board_rt_package)
    rt = spec["runtime_weights"]
    assert len(rt["layers"]) == 4 and rt["samples"] == ["weights/sample_0", "weights/sample_1"]
    assert spec["finn_driver_information"]["runtime_weights"] is True
    for layer in rt["layers"]:
        words = driver.read_weight_file(board_rt_package / rt["mode"] / layer["file"])
        assert words.size == layer["words"]


def test_sim_backend_members_equal_sample_builds(runtime_package, runtime_build):
    driver = load_driver(runtime_package)
    spec = driver.load_spec(runtime_package)
    images = np.load(runtime_package / "data" / "test.npz")["images"]
    backend = driver.SimBackend(spec, runtime_package, 64)
    for k in range(2):
        backend.load_weights(driver.sample_weights(spec, runtime_package, k))
        expected = Accelerator.load(runtime_build / "samples" / str(k) / "hw").run(images).labels[:, 0]
        assert np.array_equal(driver.classify(backend, images, spec), expected)
    backend.load_weights(driver.sample_weights(spec, runtime_package, "mode"))
    expected = Accelerator.load(runtime_build / "hw").run(images).labels[:, 0]
    assert np.array_equal(driver.classify(backend, images, spec), expected)


def test_pynq_ensemble_writes_axilite_and_votes(board_rt_package, runtime_build, monkeypatch):
    fake_pynq.install(monkeypatch)
    driver = load_driver(board_rt_package)
    spec = driver.load_spec(board_rt_package)
    images = np.load(board_rt_package / "data" / "test.npz")["images"][:100]
    labels, agreement = driver.predict(driver.PynqBackend(spec, board_rt_package, 32), images, spec,
                                       board_rt_package, ensemble=2)
    members = np.stack([Accelerator.load(runtime_build / "samples" / str(k) / "hw").run(images).labels[:, 0]
                        for k in range(2)])
    assert np.array_equal(labels, driver.vote(members, 10)[0])
    assert np.array_equal(agreement, np.where(members[0] == members[1], 1.0, 0.5))
    overlay = fake_pynq.Overlay.instances[-1]
    mode = driver.sample_weights(spec, board_rt_package, "mode")
    for k, layer in enumerate(spec["runtime_weights"]["layers"]):   # the mode is written back last
        assert np.array_equal(getattr(overlay, f"StreamingDataflowPartition_{k + 2}").mmio.array, mode[layer["name"]])


def test_ensemble_sim_backend_matches_pynq(board_rt_package, monkeypatch):
    driver = load_driver(board_rt_package)
    spec = driver.load_spec(board_rt_package)
    images = np.load(board_rt_package / "data" / "test.npz")["images"][:60]
    sim, _ = driver.predict(driver.SimBackend(spec, board_rt_package, 60), images, spec, board_rt_package, 2)
    fake_pynq.install(monkeypatch)
    board, _ = driver.predict(driver.PynqBackend(spec, board_rt_package, 60), images, spec, board_rt_package, 2)
    assert np.array_equal(sim, board)


def test_vote_ties_go_to_the_lowest_class(board_package):
    driver = load_driver(board_package)
    labels, share = driver.vote(np.array([[3, 1, 2], [1, 1, 5], [3, 0, 5], [1, 2, 2]]), 10)
    assert labels.tolist() == [1, 1, 2] and share.tolist() == [0.5, 0.5, 0.5]


def test_sample_with_other_thresholds_is_refused(runtime_build, tmp_path):
    build = tmp_path / "build"
    shutil.copytree(runtime_build, build)
    path = build / "samples" / "1" / "hw" / "dataflow.onnx"
    model = onnx.load(str(path))
    init = next(t for t in model.graph.initializer if t.name == "MultiThreshold_1_param0")
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 1, init.name))
    onnx.save(model, str(path))
    with pytest.raises(DeployError, match="more than the runtime-writable weights"):
        quiet_deploy(build, tmp_path / "pkg")


def test_ensemble_needs_runtime_weights(tfc_build, tmp_path):
    with pytest.raises(DeployError, match="runtime_weights=True"):
        quiet_deploy(tfc_build, tmp_path / "pkg", ensemble=2)
