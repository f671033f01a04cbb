"""Pipeline stages of ``bnn2hw compile`` and ``bnn2hw build``: a run to ``model.onnx`` (and its
posterior samples), a Brevitas / QONNX import, and ``model.onnx`` to a FINN accelerator
(``run_compile``, ``check_compile``, ``run_build``, ``run_import``). ``run_build`` takes the
build stage's own frozen ``BuildConfig`` (``bnn2hw.hw.config``) and, for ``--model``, an
``ImportOptions``; the builds of the posterior samples derive theirs from it (``sample_config``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from bnn2hw.compile import CompileError, compile_run
from bnn2hw.data import load_dataset
from bnn2hw.errors import CheckFailed, OutputDirError
from bnn2hw.output_dir import check_output_dir, lock_output, replace_on_success
from bnn2hw.hw import BuildConfig, build_hw
from bnn2hw.hw.api import FOLDING_FILE
from bnn2hw.pipeline.common import BUILD_MARKERS, SAMPLES_DIR, check_count, existing_build, holds, refuse_overwrite, sample_dirs


def run_compile(run_dir: Path, out_dir: Path, sample: int | None = None, samples: int = 0,
                data_dir: str | None = None, force: bool = False, posterior_bits: int = 0) -> dict:
    """Trained run -> ``out_dir/model.onnx`` (QONNX) and ``out_dir/verify.json``; with
    ``samples=K`` also posterior samples 0..K-1 into ``out_dir/samples/<k>/`` (ensembles); with
    ``posterior_bits=B`` the posterior's flip probabilities beside the mode network
    (``out_dir/posterior.json`` + ``posterior.npz``, the on-chip sampler's memories).
    The build is written beside ``out_dir`` and replaces it (with ``force``) only when complete."""
    check_count(sample, "--sample")
    check_count(samples, "--samples")
    check_count(posterior_bits, "--posterior-bits")
    out_dir = check_output_dir(out_dir)
    if not Path(run_dir).is_dir():
        raise CompileError(f"{run_dir}: no such run directory")
    with lock_output(out_dir):
        refuse_overwrite(out_dir, BUILD_MARKERS, "build", force)
        if out_dir.is_dir() and any(out_dir.iterdir()) and not holds(out_dir, BUILD_MARKERS):
            raise OutputDirError(f"{out_dir}: exists and is not a bnn2hw build directory; choose an empty or "
                                 f"new folder")
        with replace_on_success(out_dir) as staging:
            summary = compile_run(Path(run_dir), staging, sample=sample, data_dir=data_dir,
                                  posterior_bits=posterior_bits)
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


@dataclass(frozen=True)
class ImportOptions:
    """``bnn2hw build --model FILE.onnx``: a Brevitas / QONNX w1a1 export to import into the build
    directory before building it (``run_import``); ``input_scale`` and ``dataset`` as there, ``force``
    replaces a compiled ``model.onnx``, or one imported from another file, already in it. Where the dataset lives and how many of its test
    images check the import come from the build's ``BuildConfig`` (``data_dir``, ``verify_limit``)."""

    model: str
    input_scale: str | None = None
    dataset: str | None = None
    force: bool = False


# Reports about BUILD/hw written by simulate / synth: a new hw/ makes them describe hardware that is gone.
HW_REPORTS = ("sim.json", "rtl_layers.json", "rtlsim.json", "cppsim.json", "shellsim.json")


def run_build(build_dir: Path, config: BuildConfig, log=print, source: ImportOptions | None = None,
              force: bool = False) -> dict:
    """``BUILD/model.onnx`` -> FINN dataflow accelerator in ``BUILD/hw/`` (to code generation without
    Vivado), as ``config`` says; every compiled posterior sample in ``BUILD/samples/<k>/`` is built with
    the same folding (``sample_config``). With ``source`` (``--model``: a Brevitas / QONNX w1a1 export)
    the build directory is made from it first (``run_import``). An accelerator already in ``BUILD/hw``
    is replaced only with ``force`` (or ``source.force``); the simulation reports about it
    (``HW_REPORTS``) go with it."""
    check_count(config.verify_limit, "--verify-limit")
    force = force or (source is not None and source.force)
    refuse_rebuild(Path(build_dir), force)
    if source is not None:
        run_import(build_dir, source.model, source.input_scale, source.dataset, config.data_dir,
                   config.verify_limit, source.force, log)
    with existing_build(build_dir):
        summary = build_hw(Path(build_dir), config, log)
        samples = sample_config(config, Path(summary["hw_dir"]) / FOLDING_FILE)
        summary["samples"] = [build_hw(d, samples, lambda _: None) for d in sample_dirs(build_dir)]
        for directory in [Path(build_dir), *sample_dirs(build_dir)]:
            for report in HW_REPORTS:
                (directory / report).unlink(missing_ok=True)
    return summary


def refuse_rebuild(build_dir: Path, force: bool) -> None:
    """``OutputDirError`` when ``BUILD/hw`` holds an accelerator and ``force`` is not given, naming it."""
    estimates = build_dir / "hw" / "estimates.json"
    if force or not estimates.is_file():
        return
    try:
        est = json.loads(estimates.read_text())
        what = f"{est.get('impl', 'hls')} build for {est.get('board', '?')}"
    except (OSError, ValueError):
        what = "build"
    raise OutputDirError(f"{build_dir}/hw: already holds an accelerator ({what}); --force replaces it (and its "
                         f"simulation reports), or build into another directory")


def sample_config(config: BuildConfig, folding_json: Path) -> BuildConfig:
    """The build of a posterior sample: the mode's, at the mode's folding (so that only the weights
    differ and the board swaps them at run time), hence no target rate of its own. Its FINN-vs-QONNX
    check reads the same data set (``data_dir``) as the mode's."""
    return replace(config, folding=str(folding_json), fps=None)


def run_import(build_dir: Path, model: str, input_scale: str | None = None, dataset: str | None = None,
               data_dir: str | None = None, limit: int | None = None, force: bool = False, log=print) -> dict:
    """A Brevitas / QONNX w1a1 export -> ``BUILD/model.onnx``, ``import.json``, ``verify.json``
    (``bnn2hw.compile.qonnx_import``), checked against the export on the dataset's test split (the
    first ``limit`` images) or on seeded random images when no dataset is named."""
    from bnn2hw.compile.qonnx_import import IMPORT_FILE, import_qonnx
    build_dir = Path(build_dir)
    check_output_dir(build_dir, "BUILD")
    if not (build_dir / IMPORT_FILE).is_file():  # a previous import of the same file is replaced; a compiled build is not
        refuse_overwrite(build_dir, BUILD_MARKERS, "compiled build", force)
    elif not force:
        refuse_other_import(build_dir / IMPORT_FILE, Path(model))
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


def refuse_other_import(import_json: Path, model: Path) -> None:
    """``OutputDirError`` when ``import.json`` names another model than ``model`` (by content)."""
    try:
        previous = json.loads(import_json.read_text())
    except (OSError, ValueError):
        previous = {}
    try:
        digest = hashlib.sha256(model.read_bytes()).hexdigest()
    except OSError:
        return  # the import names the missing file itself
    if previous.get("sha256") != digest:
        raise OutputDirError(f"{import_json.parent}: already holds model.onnx imported from "
                             f"{previous.get('source', 'another file')}, not {model}; --force replaces it, or "
                             f"build into another directory")
