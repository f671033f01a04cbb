"""The package on disk: ``io_spec.json`` (``load_spec``, ``check_spec``), ``package.sha256`` and the
build checksum (``check_package``), input images (``load_images``, ``check_images``, the layout ops,
``pack_inputs`` / ``unpack_outputs``) and runtime weight files (``sample_weights``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .common import CHECKSUM_FILE, FORMAT, SIDE_KEYS, SPEC_FILE, SPEC_KEYS, DriverError
from .streams import datatype, pack_stream, unpack_stream, value_range

# ---- the package: spec, checksum, inputs ----

def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def build_checksum(file_digests: dict) -> str:
    """sha256 over ``name:sha256`` lines of the build's identifying files, sorted by name."""
    lines = "".join(f"{name}:{file_digests[name]}\n" for name in sorted(file_digests))
    return hashlib.sha256(lines.encode()).hexdigest()


def load_spec(package: Path) -> dict:
    """io_spec.json, parsed and checked (``check_spec``)."""
    path = package / SPEC_FILE
    if not path.is_file():
        raise DriverError(f"{path}: no such file; run driver.py from an unpacked bnn2hw deploy package")
    try:
        spec = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DriverError(f"{path}: not valid JSON ({err}); re-run bnn2hw deploy") from None
    check_spec(spec, path)
    return spec


def _require(mapping, keys, where: str) -> None:
    if not isinstance(mapping, dict):
        raise DriverError(f"{where} must be a JSON object, found {type(mapping).__name__}")
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise DriverError(f"{where} lacks {', '.join(missing)}; re-run bnn2hw deploy")


def check_spec(spec: dict, path: Path) -> None:
    """Refuse an io_spec.json this driver cannot trust: missing keys, an unknown format or output
    kind, class names that are not distinct strings, a manifest that leaves out bundled files."""
    _require(spec, SPEC_KEYS, str(path))
    if spec["format"] != FORMAT:
        raise DriverError(f"{path}: format {spec['format']!r}, this driver reads {FORMAT!r}")
    _require(spec["build"], ("sha256", "files"), f"{path}: build")
    if not isinstance(spec["build"]["files"], dict) or "dataflow.onnx" not in spec["build"]["files"]:
        raise DriverError(f"{path}: build.files must name the build's dataflow.onnx (and bitfile)")
    _require(spec["image"], ("shape",), f"{path}: image")
    for side in ("input", "output"):
        _require(spec[side], SIDE_KEYS, f"{path}: {side}")
        datatype(str(spec[side]["datatype"]))
    output = spec["output"]
    if output.get("kind") not in ("labels", "scores"):
        raise DriverError(f"{path}: output.kind must be 'labels' or 'scores', found {output.get('kind')!r}")
    if output["kind"] == "labels" and int(np.prod(output["shape_normal"][1:])) != 1:
        raise DriverError(f"{path}: output.kind 'labels' but the output has shape {output['shape_normal']}")
    classes = spec.get("classes")
    if classes is not None and (not isinstance(classes, list) or not all(isinstance(c, str) for c in classes)
                                or len(set(classes)) != len(classes) or not classes):
        raise DriverError(f"{path}: classes must be a list of distinct class names")
    if output["kind"] == "scores" and classes and int(output["shape_normal"][-1]) != len(classes):
        raise DriverError(f"{path}: {len(classes)} class names for {output['shape_normal'][-1]} scores")
    if not isinstance(spec["manifest"], dict):
        raise DriverError(f"{path}: manifest must be a JSON object")
    rt = spec.get("runtime_weights") or {}
    bundled = [spec.get("test_data")] + [f"{folder}/{layer['file']}" for folder in
                                         [rt.get("mode")] * bool(rt) + list(rt.get("samples", []))
                                         for layer in rt.get("layers", [])]
    unlisted = [rel for rel in bundled if rel and rel not in spec["manifest"]]
    if unlisted:
        raise DriverError(f"{path}: manifest lacks {', '.join(unlisted)}: their checksums would go unchecked; "
                          f"re-run bnn2hw deploy")


def check_checksums(package: Path) -> None:
    """Every file listed in package.sha256 has its sha256; io_spec.json and driver.py are listed."""
    path = package / CHECKSUM_FILE
    if not path.is_file():
        raise DriverError(f"{path}: no such file; the package cannot be checked (re-run bnn2hw deploy)")
    listed = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        digest, _, rel = line.partition("  ")
        if len(digest) != 64 or not rel or rel.startswith("/") or ".." in Path(rel).parts:
            raise DriverError(f"{path}: line {number} is not '<sha256>  <relative path>'")
        listed[rel] = digest
    for required in (SPEC_FILE, "driver.py"):
        if required not in listed:
            raise DriverError(f"{path}: does not list {required}; re-run bnn2hw deploy")
    for rel, digest in listed.items():
        if _digest(package, rel, CHECKSUM_FILE) != digest:
            raise DriverError(f"{package / rel}: sha256 differs from {CHECKSUM_FILE}'s (changed since bnn2hw "
                              f"deploy wrote it); re-run bnn2hw deploy")


def _digest(package: Path, rel: str, listed_in: str = SPEC_FILE) -> str:
    path = package / rel
    if not path.is_file():
        raise DriverError(f"{path}: missing from the package ({listed_in} lists it)")
    return sha256_file(path)


def check_package(spec: dict, package: Path) -> None:
    """The build's files (dataflow graph, bitfile) give io_spec's build checksum; every other
    listed file (test data, weights, .hwh) has its recorded sha256."""
    build = spec["build"]
    digests = {name: _digest(package, rel) for name, rel in build["files"].items()}
    if build_checksum(digests) != build["sha256"]:
        raise DriverError(f"this package's {' and '.join(sorted(digests))} do not belong to the build "
                          f"io_spec.json describes (checksum mismatch, expected {build['sha256'][:16]}...): "
                          f"a package from another build? Re-run bnn2hw deploy")
    for rel, expected in spec.get("manifest", {}).items():
        if _digest(package, rel) != expected:
            raise DriverError(f"{package / rel}: sha256 differs from io_spec.json's (changed, or from "
                              f"another package); re-run bnn2hw deploy")
    check_checksums(package)


def load_images(path: str, limit: int | None) -> np.ndarray:
    """The ``--inputs`` .npy (no pickles), first ``limit`` images; refuses what is not an image batch."""
    if not Path(path).is_file():
        raise DriverError(f"--inputs {path}: no such file" if not Path(path).exists() else
                          f"--inputs {path}: not a file")
    try:
        images = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DriverError(f"--inputs {path}: not a .npy array of raw images ({err})") from None
    if not isinstance(images, np.ndarray):
        images.close()
        raise DriverError(f"--inputs {path}: an .npz archive; save one array with numpy.save")
    if images.ndim == 0 or images.size == 0:
        raise DriverError(f"--inputs {path}: no images (shape {images.shape})")
    return images[:limit]


def check_images(images, spec: dict) -> np.ndarray:
    """Raw images (N, *image.shape), any integer dtype with values 0..255 -> uint8; else DriverError."""
    expected = tuple(spec["image"]["shape"])
    images = np.asarray(images)
    if images.ndim == len(expected):
        images = images[None]
    if tuple(images.shape[1:]) != expected:
        raise DriverError(f"images have shape {images.shape}; this accelerator takes (N, "
                          f"{', '.join(map(str, expected))}) raw images")
    if len(images) == 0:
        raise DriverError("no images to run (an empty batch)")
    if images.dtype.kind not in "ui":
        raise DriverError(f"images have dtype {images.dtype}; give raw integer pixels 0..255 (uint8), not "
                          f"normalised floats or booleans")
    if images.size and (int(images.min()) < 0 or int(images.max()) > 255):
        raise DriverError(f"pixel values {int(images.min())}..{int(images.max())} out of range 0..255")
    return images.astype(np.uint8)


def apply_layout_ops(x: np.ndarray, ops: list) -> np.ndarray:
    """The software layout ops between the raw images and the accelerator (batch-aware)."""
    for op in ops:
        if op["op"] == "Transpose":
            x = np.transpose(x, op["perm"])
        elif op["op"] == "Flatten":
            axis = int(op.get("axis", 1))
            x = x.reshape(int(np.prod(x.shape[:axis])), -1)
        elif op["op"] == "Reshape":
            x = x.reshape([len(x)] + [int(v) for v in op["shape"][1:]])
        elif op["op"] != "Identity":
            raise DriverError(f"layout op {op['op']} is not supported by this driver")
    return x


def pack_inputs(images: np.ndarray, spec: dict) -> np.ndarray:
    """Checked raw images -> uint8 (N, *shape_packed[1:]) for the input DMA."""
    io = spec["input"]
    x = apply_layout_ops(images, spec["preprocess"])
    low, high = value_range(io["datatype"])
    if x.size and (int(x.min()) < low or int(x.max()) > high):
        raise DriverError(f"input values {int(x.min())}..{int(x.max())} do not fit the accelerator's "
                          f"input type {io['datatype']}")
    folded = x.reshape((len(x),) + tuple(io["shape_folded"][1:]))
    return pack_stream(folded, io["datatype"])


def unpack_outputs(packed: np.ndarray, spec: dict) -> np.ndarray:
    """Output DMA bytes (N, *shape_packed[1:]) -> values (N, *shape_normal[1:])."""
    io = spec["output"]
    shape = (len(packed),) + tuple(io["shape_folded"][1:])
    values = unpack_stream(packed, io["datatype"], shape)
    return values.reshape((len(packed),) + tuple(io["shape_normal"][1:]))


def read_weight_file(path: Path) -> np.ndarray:
    """FINN ``decoupled_runtime`` .dat (one 32-bit hex word per line) -> uint32 words."""
    return np.array([int(x, 16) for x in path.read_text().split()], dtype=np.uint32)


def sample_weights(spec: dict, package: Path, k) -> dict:
    """{layer name: uint32 words} of posterior sample ``k`` (an int), or of the mode (``"mode"``)."""
    rt = spec.get("runtime_weights") or {}
    if k != "mode" and k >= len(rt.get("samples", [])):
        raise DriverError(f"sample {k} requested but this package holds {len(rt.get('samples', []))} "
                          f"weight samples; deploy a build made with runtime-writable weights and samples")
    folder = package / (rt["mode"] if k == "mode" else rt["samples"][k])
    return {layer["name"]: read_weight_file(folder / layer["file"]) for layer in rt["layers"]}
