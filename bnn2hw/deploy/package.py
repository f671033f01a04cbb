"""The files of a deploy package: build copies, checksums, test data, README, and the final check.

Contract: ``copy_build_files(hw_dir, out_dir, notes)`` copies ``dataflow.onnx`` /
``dataflow_parent.onnx`` into ``sim/`` and, when the build has one, ``finn-accel.bit`` /
``.hwh`` into ``bitfile/`` (for an ECP5 board, the open-tool ``accelerator.bit``); it returns the build-identifying files ``{name: package path}``
(``dataflow.onnx`` and the bitfile) whose ``build_sha256`` (the driver's ``build_checksum``:
sha256 over sorted ``name:sha256`` lines) identifies the build. ``test_data`` writes
``data/test.npz`` from the dataset named in ``BUILD/verify.json``. ``manifest`` lists the
sha256 of every other data file. ``write_readme`` writes the user's instructions.
``write_checksums`` writes ``package.sha256`` last: ``<sha256>  <path>`` (``sha256sum -c`` reads it)
for every file of the package, ``io_spec.json`` and ``driver.py`` included; the driver checks it.
The test data holds ``expected``: bnn2hw.sim's labels for its images, which ``driver.py
--validate`` compares the backend's labels with.
``verify_package`` runs the packaged ``driver.py`` (imported from the package, sim backend) on
its test images and compares the labels with ``bnn2hw.sim.Accelerator`` run on the raw images.
Checksums and weight files use the driver's own functions, so deploy and driver agree.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np

from bnn2hw.deploy.bnn2hw_driver import build_checksum, sha256_file
from bnn2hw.deploy.io_spec import DeployCheckFailed, DeployError
from bnn2hw.deploy.readme import readme_text
from bnn2hw.jsonfile import read_json_if_present

BITFILE, HWH = "finn-accel.bit", "finn-accel.hwh"
ECP5_BITFILE = "accelerator.bit"   # bnn2hw build --board ulx3s-* --impl rtl (yosys + nextpnr + ecppack)
TEST_FILE = "data/test.npz"
CHECKSUM_FILE = "package.sha256"
NOT_IN_MANIFEST = ("driver.py", "io_spec.json", "README.md", "deploy.json", CHECKSUM_FILE)

__all__ = ["build_checksum", "sha256_file"]


def copy_build_files(hw_dir: Path, out_dir: Path, notes: list) -> dict[str, str]:
    (out_dir / "sim").mkdir()
    files = {"dataflow.onnx": "sim/dataflow.onnx"}
    shutil.copy(hw_dir / "dataflow.onnx", out_dir / files["dataflow.onnx"])
    if (hw_dir / "dataflow_parent.onnx").is_file():
        shutil.copy(hw_dir / "dataflow_parent.onnx", out_dir / "sim" / "dataflow_parent.onnx")
    ecp5 = hw_dir / "bitfile" / ECP5_BITFILE
    if ecp5.is_file():  # an open-tool bitstream for an ECP5 board: the UART shell, no .hwh
        (out_dir / "bitfile").mkdir()
        shutil.copy(ecp5, out_dir / "bitfile" / ECP5_BITFILE)
        files[ECP5_BITFILE] = f"bitfile/{ECP5_BITFILE}"
        return files
    bitfile = hw_dir / "bitfile" / BITFILE
    if bitfile.is_file():
        (out_dir / "bitfile").mkdir()
        shutil.copy(bitfile, out_dir / "bitfile" / BITFILE)
        files[BITFILE] = f"bitfile/{BITFILE}"
        if (hw_dir / "bitfile" / HWH).is_file():
            shutil.copy(hw_dir / "bitfile" / HWH, out_dir / "bitfile" / HWH)
        else:
            notes.append(f"{hw_dir / 'bitfile'} has no {HWH}: PYNQ's Overlay needs it next to the bitfile")
    else:
        notes.append("no bitfile (the build ran without Vivado / Vitis HLS): the package runs with "
                     "--backend sim only; rebuild with Vivado and deploy again for the board")
    return files


def copied_hwh(out_dir: Path) -> str | None:
    return f"bitfile/{HWH}" if (out_dir / "bitfile" / HWH).is_file() else None


def build_sha256(out_dir: Path, files: dict[str, str]) -> str:
    return build_checksum({name: sha256_file(out_dir / rel) for name, rel in files.items()})


def test_data(build_dir: Path, out_dir: Path, spec: dict, limit: int | None, data_dir, notes: list) -> dict:
    """``data/test.npz`` of the build's dataset; the spec fields it fills (dataset, classes, ...)."""
    summary = build_dir / "verify.json"
    dataset = read_json_if_present(summary, DeployError).get("dataset")
    if not dataset:
        notes.append(f"no dataset named in {summary}: no test data packaged (--validate unavailable)")
        return {"dataset": None, "classes": None, "test_data": None, "test_images": 0}
    from bnn2hw.data import DatasetError, load_dataset
    try:
        data = load_dataset(dataset, data_dir)
    except (DatasetError, OSError, ValueError) as err:
        raise DeployError(f"cannot load the build's dataset {dataset!r}: {err}") from None
    if list(data.x_test.shape[1:]) != list(spec["image"]["shape"]):
        raise DeployError(f"dataset {dataset} has images {data.x_test.shape[1:]}, the accelerator takes "
                          f"{tuple(spec['image']['shape'])}")
    stop = len(data.x_test) if limit is None else int(limit)
    images = data.x_test[:stop].astype(np.uint8)
    from bnn2hw.sim import Accelerator
    expected = Accelerator.load(build_dir / "hw").run(images).labels[:, 0].astype(np.int64)
    (out_dir / "data").mkdir()
    np.savez_compressed(out_dir / TEST_FILE, images=images, labels=data.y_test[:stop].astype(np.int64),
                        expected=expected)
    return {"dataset": dataset, "classes": list(data.classes), "test_data": TEST_FILE,
            "test_images": int(min(stop, len(data.x_test)))}


def write_weight_file(path: Path, words: np.ndarray) -> None:
    """FINN's decoupled_runtime .dat: one 32-bit word a line, 8 lowercase hex digits."""
    path.write_text("".join(f"{int(w):08x}\n" for w in np.asarray(words, dtype=np.uint32)))


def manifest(out_dir: Path, exclude: set[str]) -> dict[str, str]:
    out = {}
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(out_dir).as_posix()
        if rel not in exclude and rel not in NOT_IN_MANIFEST:
            out[rel] = sha256_file(path)
    return out


def write_readme(out_dir: Path, spec: dict, name: str) -> None:
    (out_dir / "README.md").write_text(readme_text(name, spec))


def write_checksums(out_dir: Path) -> None:
    """``package.sha256`` over every file of the package (see module docstring)."""
    files = sorted(p for p in out_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and p.name != CHECKSUM_FILE)
    (out_dir / CHECKSUM_FILE).write_text("".join(f"{sha256_file(p)}  {p.relative_to(out_dir).as_posix()}\n"
                                                 for p in files))


def load_driver(out_dir: Path):
    """The package's driver.py as a module (exactly what ships)."""
    module_spec = importlib.util.spec_from_file_location(f"bnn2hw_package_driver_{abs(hash(out_dir))}",
                                                         out_dir / "driver.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def verify_package(out_dir: Path, hw_dir: Path, limit: int) -> dict:
    """Packaged driver (sim backend) vs bnn2hw.sim on raw images: labels must be equal."""
    driver = load_driver(out_dir)
    spec = driver.load_spec(out_dir)
    driver.check_package(spec, out_dir)
    data = np.load(out_dir / spec["test_data"])
    images = data["images"][:limit]
    labels, _ = driver.predict(driver.SimBackend(spec, out_dir, len(images) or 1), images, spec, out_dir)
    expected = data["expected"][:limit]
    mismatches = int(np.count_nonzero(labels != expected))
    result = {"images": int(len(images)), "label_mismatches": mismatches,
              "reference": "bnn2hw.sim.Accelerator on the raw images",
              "accuracy": float(np.mean(labels == data["labels"][:limit])) if len(images) else None}
    if mismatches:
        raise DeployCheckFailed(f"the packaged driver (sim backend) disagrees with bnn2hw.sim on {mismatches} of "
                          f"{len(images)} images: its packing or io_spec.json is wrong")
    return result
