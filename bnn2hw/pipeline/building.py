"""Pipeline stages of ``bnn2hw compile`` and ``bnn2hw build``: a run to ``model.onnx`` (and its
posterior samples), a Brevitas / QONNX import, and ``model.onnx`` to a FINN accelerator
(``run_compile``, ``check_compile``, ``run_build``, ``run_import``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bnn2hw.compile import CompileError, compile_run
from bnn2hw.data import load_dataset
from bnn2hw.errors import CheckFailed, OutputDirError
from bnn2hw.output_dir import check_output_dir, lock_output, replace_on_success
from bnn2hw.hw import build as build_hw
from bnn2hw.pipeline.common import BUILD_MARKERS, SAMPLES_DIR, check_count, existing_build, holds, refuse_overwrite, sample_dirs


def run_compile(run_dir: Path, out_dir: Path, sample: int | None = None, samples: int = 0,
                data_dir: str | None = None, force: bool = False) -> dict:
    """Trained run -> ``out_dir/model.onnx`` (QONNX) and ``out_dir/verify.json``; with
    ``samples=K`` also posterior samples 0..K-1 into ``out_dir/samples/<k>/`` (ensembles).
    The build is written beside ``out_dir`` and replaces it (with ``force``) only when complete."""
    check_count(sample, "--sample")
    check_count(samples, "--samples")
    out_dir = check_output_dir(out_dir)
    if not Path(run_dir).is_dir():
        raise CompileError(f"{run_dir}: no such run directory")
    with lock_output(out_dir):
        refuse_overwrite(out_dir, BUILD_MARKERS, "build", force)
        if out_dir.is_dir() and any(out_dir.iterdir()) and not holds(out_dir, BUILD_MARKERS):
            raise OutputDirError(f"{out_dir}: exists and is not a bnn2hw build directory; choose an empty or "
                                 f"new folder")
        with replace_on_success(out_dir) as staging:
            summary = compile_run(Path(run_dir), staging, sample=sample, data_dir=data_dir)
            summary["samples"] = [compile_run(Path(run_dir), staging / SAMPLES_DIR / str(k), sample=k,
                                              data_dir=data_dir) for k in range(samples)]
    return summary


def check_compile(summary: dict) -> None:
    """``CheckFailed`` when model.onnx disagrees with the integer reference (mode or any sample)."""
    bad = [(name, s) for name, s in [("mode", summary)] + [(f"sample {k}", s) for k, s in
                                                           enumerate(summary.get("samples", []))]
           if s["label_mismatches"] or s["value_mismatches"]]
    if bad:
        raise CheckFailed("model.onnx disagrees with the integer reference: " + "; ".join(
            f"{name}: {s['label_mismatches']} label and {s['value_mismatches']} score mismatches on "
            f"{s['images']} images" for name, s in bad) + " (see verify.json)")


def run_build(build_dir: Path, board: str = "pynq-z2", fps: float | None = None, clock_mhz: float | None = None,
              folding: str | None = None, verify_limit: int | None = None, runtime_weights: bool = False,
              log=print, impl: str = "hls", baud: int = 115200, model: str | None = None,
              input_scale: str | None = None, dataset: str | None = None, data_dir: str | None = None,
              force: bool = False, ignore_estimates: bool = False,
              output: str = "labels") -> dict:
    """``BUILD/model.onnx`` -> FINN dataflow accelerator in ``BUILD/hw/`` (to code generation without
    Vivado); every compiled posterior sample in ``BUILD/samples/<k>/`` is built with the same folding.
    With ``model`` (``--model``: a Brevitas / QONNX w1a1 export) the build directory is made from it
    first (``run_import``)."""
    check_count(verify_limit, "--verify-limit")
    if model is not None:
        run_import(build_dir, model, input_scale, dataset, data_dir, verify_limit, force, log)
    elif input_scale is not None or dataset is not None:
        raise ValueError("--input-scale and --dataset describe an imported model: give them with --model FILE.onnx")
    with existing_build(build_dir):
        summary = build_hw(Path(build_dir), board=board, fps=fps, clock_mhz=clock_mhz, folding=folding,
                           verify_limit=verify_limit, runtime_weights=runtime_weights, impl=impl, baud=baud,
                           data_dir=data_dir, ignore_estimates=ignore_estimates, output=output, log=log)
        folding_json = str(Path(summary["hw_dir"]) / "folding.json")
        summary["samples"] = [build_hw(d, board=board, clock_mhz=clock_mhz, folding=folding_json,
                                       verify_limit=verify_limit, runtime_weights=runtime_weights, impl=impl,
                                       baud=baud, ignore_estimates=ignore_estimates, output=output,
                                       log=lambda _: None)
                              for d in sample_dirs(build_dir)]
    return summary


def run_import(build_dir: Path, model: str, input_scale: str | None = None, dataset: str | None = None,
               data_dir: str | None = None, limit: int | None = None, force: bool = False, log=print) -> dict:
    """A Brevitas / QONNX w1a1 export -> ``BUILD/model.onnx``, ``import.json``, ``verify.json``
    (``bnn2hw.compile.qonnx_import``), checked against the export on the dataset's test split (the
    first ``limit`` images) or on seeded random images when no dataset is named."""
    from bnn2hw.compile.qonnx_import import IMPORT_FILE, import_qonnx
    build_dir = Path(build_dir)
    check_output_dir(build_dir, "BUILD")
    if not (build_dir / IMPORT_FILE).is_file():  # a previous import is replaced; a compiled build is not
        refuse_overwrite(build_dir, BUILD_MARKERS, "compiled build", force)
    images = labels = None
    if dataset is not None:
        data = load_dataset(dataset, data_dir)
        images, labels = data.x_test[:limit], data.y_test[:limit]
    created = not build_dir.exists()
    build_dir.mkdir(parents=True, exist_ok=True)
    try:
        with lock_output(build_dir):
            report = import_qonnx(model, build_dir, input_scale, images, labels, dataset)
    except BaseException:
        if created:  # a refused import leaves no empty build directory behind
            shutil.rmtree(build_dir, ignore_errors=True)
        raise
    log(f"bnn2hw import: {model} -> {build_dir / 'model.onnx'} ({report['input_convention']}); "
        f"{report['label_mismatches']} label mismatches with the export on {report['images']} images")
    if report["label_mismatches"]:
        raise CheckFailed(f"the imported model.onnx disagrees with {model} on {report['label_mismatches']} of "
                          f"{report['images']} images; see {build_dir / 'verify.json'}")
    return report
