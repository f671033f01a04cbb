"""``deploy``: a build directory -> a self-contained PYNQ package (``bnn2hw deploy BUILD --out DEPLOY``).

Contract: ``deploy(build_dir, out_dir, ensemble=None, test_limit=None, data_dir=None,
verify_limit=200, log=print)`` reads ``BUILD/hw/`` (``dataflow.onnx``, ``dataflow_parent.onnx``,
``estimates.json``, ``bitfile/`` when Vivado made one), ``BUILD/verify.json`` (the dataset) and
``BUILD/samples/<k>/`` (posterior samples, see ``bnn2hw.deploy.weights``), and writes the package
into a temporary sibling of ``out_dir`` that replaces it only when complete (``out_dir`` must be
new, empty or a previous package; a failed deploy leaves it as it was):
``driver.py`` (a copy of ``driver_template.py``, with its parts in ``bnn2hw_driver/``: numpy + pynq only), ``io_spec.json`` (see
below), ``README.md``, ``sim/dataflow.onnx`` + ``sim/dataflow_parent.onnx`` (for
``--backend sim`` and the checksum), ``bitfile/finn-accel.bit`` + ``.hwh`` (when built),
``data/test.npz`` (``images`` raw uint8 (N, C, H, W), ``labels`` int64: the dataset's test
split, the first ``test_limit``), and for builds with runtime-writable weights
``weights/mode/<layer>.dat`` and ``weights/sample_<k>/<layer>.dat`` (FINN's runtime weight files;
``ensemble`` caps the samples, 0 = none).
``io_spec.json``: ``format``, ``build`` (``sha256`` over ``dataflow.onnx`` + bitfile, ``files``,
board, part, clock, estimated fps and latency), ``image``, ``preprocess``, ``input``/``output``
(``bnn2hw.deploy.io_spec``; a scores output adds ``output_scale``, as ``bnn2hw simulate`` takes it), ``classes``, ``dataset``, ``test_data``, ``bitfile``/``hwh``,
``runtime_weights`` (layers, ``mode``, ``samples``), ``onchip_ensemble`` (a build whose stitched
RTL top has the posterior sampler, ``hw/rtl/manifest.json["sampler"]``: ``bits``, ``posterior``
(``sim/posterior.json``, copied with its ``.npz`` for the sim backend), ``max_passes``,
``backends``: those that run it, ``uart`` and ``sim``; else None), ``finn_driver_information`` (FINN's
settings.json block), ``manifest`` (sha256 of every other packaged file), ``package.sha256`` (every file, io_spec.json
included: ``package.write_checksums``). Finally the packaged
driver's sim backend runs ``verify_limit`` test images and must give the labels
``bnn2hw.sim.Accelerator`` gives for the raw images (rung 5 of the verification ladder).
Returns the summary (also ``DEPLOY/deploy.json``). Raises ``DeployError`` with a message.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from bnn2hw.deploy import package
from bnn2hw.deploy.io_spec import DeployError, finn_driver_information, stream_spec
from bnn2hw.jsonfile import read_json, read_json_if_present
from bnn2hw.output_dir import replace_on_success
from bnn2hw.sim.api import output_scale_for
from bnn2hw.sim.datatypes import SimError
from bnn2hw.deploy.weights import graph_weights, runtime_layers, runtime_words, sample_dirs, sample_weights

FORMAT = "bnn2hw-deploy/1"
SPEC_FILE, SUMMARY_FILE, DRIVER_FILE = "io_spec.json", "deploy.json", "driver.py"
DRIVER_PARTS = "bnn2hw_driver"  # the driver's modules, beside driver.py


def _check_out(out_dir: Path, build_dir: Path) -> None:
    if out_dir.resolve() in (build_dir.resolve(), *build_dir.resolve().parents):
        raise DeployError(f"{out_dir}: the package must not be the build directory or above it")
    if out_dir.exists():
        if not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / SPEC_FILE).is_file()):
            raise DeployError(f"{out_dir}: exists and is not a bnn2hw package; choose an empty or new folder")


def _load_onnx(path: Path) -> onnx.ModelProto:
    try:
        return onnx.load(str(path))
    except (DecodeError, OSError, ValueError) as err:
        raise DeployError(f"{path}: not a readable ONNX file ({err}); run `bnn2hw build` again") from None


def _estimates(hw_dir: Path) -> dict:
    path = hw_dir / "estimates.json"
    est = read_json_if_present(path, DeployError)
    keys = ("board", "finn_board", "part", "clock_mhz", "fps", "latency_cycles", "latency_us")
    out = {k: est.get(k) for k in keys}
    pnr = est.get("pnr")
    if pnr:  # an ECP5 bitstream: the UART shell's rate and what nextpnr measured
        out["uart"] = {"baud": pnr.get("baud"), "frame_bytes": pnr.get("uart_frame_bytes"),
                       "fmax_mhz": pnr.get("fmax_mhz")}
    return out


def _weights(build_dir: Path, dataflow, out_dir: Path, ensemble: int | None, notes: list) -> dict | None:
    layers = runtime_layers(dataflow)
    found = sample_dirs(build_dir)
    if not layers:
        if found and ensemble != 0:
            notes.append(f"{len(found)} posterior samples in {build_dir / 'samples'} not packaged: the build has "
                         f"no runtime-writable weights (rebuild with runtime_weights=True)")
        if ensemble:
            raise DeployError(f"ensemble={ensemble} needs a build with runtime-writable weights; rebuild with "
                              f"runtime_weights=True (FINN runtime_writeable_weights on every MVAU)")
        return None
    samples = [] if ensemble == 0 else sample_weights(build_dir, dataflow, layers, ensemble)
    if ensemble and len(samples) < ensemble:
        raise DeployError(f"ensemble={ensemble} but {build_dir / 'samples'} holds {len(samples)} built samples")
    folders = {"mode": graph_weights(dataflow, layers)}
    folders.update({f"sample_{k}": weights for k, (_, weights) in enumerate(samples)})
    for folder, weights in folders.items():
        (out_dir / "weights" / folder).mkdir(parents=True)
        for layer in layers:
            words = runtime_words(weights[layer["name"]], layer)
            package.write_weight_file(out_dir / "weights" / folder / layer["file"], words)
    return {"layers": layers, "mode": "weights/mode",
            "samples": [f"weights/sample_{k}" for k in range(len(samples))]}


def _onchip_ensemble(build_dir: Path, hw_dir: Path, out_dir: Path) -> dict | None:
    """The sampler of the stitched RTL top (see module docstring); its posterior goes into ``sim/``."""
    from bnn2hw.posterior_memory import JSON_FILE, NPZ_FILE
    sampler = read_json_if_present(hw_dir / "rtl" / "manifest.json", DeployError).get("sampler")
    if not sampler:
        return None
    for name in (JSON_FILE, NPZ_FILE):
        if not (build_dir / name).is_file():
            raise DeployError(f"{build_dir / name}: missing, but the build's sampler needs it; compile again with "
                              f"--posterior-bits and rebuild")
        shutil.copy(build_dir / name, out_dir / "sim" / name)
    # the Vivado flow stitches the MVAU wrappers with their default PBITS = 0: no sampler on a PYNQ bitfile
    return {"bits": int(sampler["bits"]), "posterior": f"sim/{JSON_FILE}", "max_passes": 0xFFFF,
            "backends": ["uart", "sim"]}


def deploy(build_dir, out_dir, ensemble: int | None = None, test_limit: int | None = None, data_dir=None,
           verify_limit: int = 200, log=print) -> dict:
    """Write the package (see module docstring) and return its summary."""
    build_dir, out_dir = Path(build_dir), Path(out_dir)
    for name, value, low in (("ensemble", ensemble, 0), ("test_limit", test_limit, 1), ("verify_limit", verify_limit, 0)):
        if value is not None and not (type(value) is int and value >= low):
            raise DeployError(f"{name} (--{name.replace('_', '-')}) must be an integer >= {low}, got {value!r}")
    hw_dir = build_dir / "hw"
    if not (hw_dir / "dataflow.onnx").is_file():
        raise DeployError(f"{hw_dir / 'dataflow.onnx'}: no such file; run `bnn2hw build` first")
    _check_out(out_dir, build_dir)
    with replace_on_success(out_dir) as staging:
        summary, notes = _write_package(build_dir, hw_dir, staging, out_dir, ensemble, test_limit, data_dir,
                                        verify_limit)
    for note in notes:
        log(f"note: {note}")
    log(f"bnn2hw deploy: {build_dir} -> {out_dir} (build {summary['build_sha256'][:12]}, "
        f"{'bitfile' if summary['bitfile'] else 'no bitfile: sim backend only'}, {summary['test_images']} test "
        f"images, {summary['weight_samples']} weight samples)")
    return summary


def _write_package(build_dir: Path, hw_dir: Path, out_dir: Path, final_dir: Path, ensemble, test_limit, data_dir,
                   verify_limit: int) -> tuple[dict, list[str]]:
    """The package in ``out_dir`` (a staging directory that becomes ``final_dir``)."""
    notes: list[str] = []
    dataflow = _load_onnx(hw_dir / "dataflow.onnx")
    parent_path = hw_dir / "dataflow_parent.onnx"
    parent = _load_onnx(parent_path) if parent_path.is_file() else None
    build = _estimates(hw_dir)
    spec = {"format": FORMAT, **stream_spec(dataflow, parent, build["finn_board"])}
    if spec["output"]["kind"] == "scores":  # the softmax scale the PC ensemble uses (bnn2hw.sim)
        try:
            spec["output"]["output_scale"], spec["output"]["output_scale_source"] = output_scale_for(build_dir)
        except SimError as err:
            raise DeployError(f"the output scale of {build_dir}: {err}") from None
    files = package.copy_build_files(hw_dir, out_dir, notes)
    spec["build"] = {**build, "sha256": package.build_sha256(out_dir, files), "files": files}
    spec.update(bitfile=files.get(package.BITFILE) or files.get(package.ECP5_BITFILE), hwh=package.copied_hwh(out_dir),
                sim={"dataflow": files["dataflow.onnx"],
                     "parent": "sim/dataflow_parent.onnx" if parent is not None else None})
    spec.update(package.test_data(build_dir, out_dir, spec, test_limit, data_dir, notes))
    spec["runtime_weights"] = _weights(build_dir, dataflow, out_dir, ensemble, notes)
    spec["onchip_ensemble"] = _onchip_ensemble(build_dir, hw_dir, out_dir)
    spec["finn_driver_information"] = finn_driver_information(spec)
    spec["manifest"] = package.manifest(out_dir, exclude=set(files.values()))
    (out_dir / SPEC_FILE).write_text(json.dumps(spec, indent=2) + "\n")
    shutil.copy(Path(__file__).with_name("driver_template.py"), out_dir / DRIVER_FILE)
    shutil.copytree(Path(__file__).with_name(DRIVER_PARTS), out_dir / DRIVER_PARTS,
                    ignore=shutil.ignore_patterns("__pycache__"))
    package.write_readme(out_dir, spec, final_dir.name)
    summary = {"package": str(final_dir), "build": str(build_dir), "build_sha256": spec["build"]["sha256"],
               "bitfile": spec["bitfile"], "test_images": spec.get("test_images", 0),
               "weight_samples": len((spec["runtime_weights"] or {}).get("samples", [])),
               "runtime_weight_layers": len((spec["runtime_weights"] or {}).get("layers", [])), "notes": notes}
    package.write_checksums(out_dir)
    if verify_limit and spec.get("test_data"):
        summary["verify"] = package.verify_package(out_dir, hw_dir, verify_limit)
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    package.write_checksums(out_dir)
    return summary, notes


def load_spec(package_dir) -> dict:
    path = Path(package_dir) / SPEC_FILE
    if not path.is_file():
        raise DeployError(f"{path}: no such file; not a bnn2hw deploy package")
    return read_json(path, DeployError)


def check_build(package_dir, build_dir) -> None:
    """Refuse a package that was not made from ``build_dir`` (different dataflow graph or bitfile)."""
    spec = load_spec(package_dir)
    hw_dir = Path(build_dir) / "hw"
    digests = {}
    for name in spec["build"]["files"]:
        source = hw_dir / name if name.endswith(".onnx") else hw_dir / "bitfile" / name
        if not source.is_file():
            raise DeployError(f"{source}: missing; the package belongs to a build that has it")
        digests[name] = package.sha256_file(source)
    if package.build_checksum(digests) != spec["build"]["sha256"]:
        raise DeployError(f"{package_dir} was made from another build than {build_dir} (checksum mismatch)")
