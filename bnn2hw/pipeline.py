"""The pipeline: one function per CLI command, in the order data flows.

Contract: each ``run_*`` function takes plain arguments and frozen configs, writes its
artifacts (DESIGN.md, "Artifacts") under the directory it is given, and returns a summary
dict. They raise the stage's own errors (``DatasetError``, ``CheckpointError``,
``TrainingDiverged``, ``CompileError``, ``HwError``, ``SimError``, ``DeployError``,
``OutputDirError``, ``ValueError``); the CLI turns those into one-line messages.

Output directories (``bnn2hw.output_dir``): every ``run_*`` checks its output directory before
any work, and holds a lock on it while writing (a second bnn2hw process writing the same
directory is refused). A directory holding a previous run (``checkpoint.pt``), build
(``model.onnx``) or package (``io_spec.json``) is not overwritten unless ``force`` (training:
or ``resume``). A compiled build and a deploy package replace the old one only when complete.
``check_*`` raise ``CheckFailed`` for a report whose check failed (mismatches, overflows).
``run_build(..., model=FILE)`` (``bnn2hw build BUILD --model FILE.onnx``) first imports a Brevitas /
QONNX w1a1 export into the build directory (``run_import``; ``bnn2hw.compile.qonnx_import``).
"""

from __future__ import annotations

import contextlib
import json
import shutil
from dataclasses import asdict, fields
from pathlib import Path

from bnn2hw.compile import CompileError, compile_run
from bnn2hw.data import load_dataset
from bnn2hw.errors import CheckFailed, OutputDirError
from bnn2hw.output_dir import check_output_dir, lock_output, recover_interrupted, replace_on_success
from bnn2hw.deploy import deploy
from bnn2hw.hw import build as build_hw
from bnn2hw.sim import simulate
from bnn2hw.train import TrainConfig, resume_config, train
from bnn2hw.train.checkpoint import CheckpointError
from bnn2hw.train.continual import continual_config, train_continual
from bnn2hw.train.loop import RESUMABLE_CHANGES
from bnn2hw.train.uncertainty import uncertainty_report

DEFAULT_FLOW = TrainConfig(model="tfc", dataset="digits", method="bayesbinn", epochs=20)
FLOW_BOARD = "pynq-z2"
FLOW_FPS = 100_000  # a folded design (the fully parallel TFC would take most of the board)
FLOW_SAMPLES = 3  # posterior samples compiled, built (runtime weights), simulated and packaged


RUN_FILES = ("checkpoint.pt", "metrics.json", "curves.png", "continual.json")
BUILD_MARKERS = ("model.onnx", "verify.json")
PACKAGE_MARKER = "io_spec.json"


def _holds(directory: Path, names) -> list[str]:
    return [n for n in names if (directory / n).exists()]


def _refuse_overwrite(directory: Path, names, what: str, force: bool, resume_hint: bool = False) -> None:
    found = _holds(directory, names)
    if found and not force:
        how = "--resume continues it, --force replaces it" if resume_hint else "--force replaces it"
        raise OutputDirError(f"{directory}: already holds a {what} ({', '.join(found)}); choose a new "
                             f"directory, or {how}")


def check_count(value, option: str, minimum: int = 0) -> None:
    """Refuse a count below ``minimum`` (negative ``--limit``, ``--samples``, ...), naming the option."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        raise ValueError(f"{option} must be an integer >= {minimum}, got {value!r}")


def run_train(out_dir: Path, options: dict, resume: bool = False, progress: bool = True, log=print,
              force: bool = False) -> dict:
    """Train into ``out_dir``; ``options`` holds only the TrainConfig fields the user set."""
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown training options: {', '.join(sorted(unknown))}")
    if resume and force:
        raise ValueError("--resume continues the run in --out, --force replaces it: give one of them")
    out_dir = check_output_dir(out_dir)
    with lock_output(out_dir):
        if resume:
            config = _resumed_config(out_dir, options)
        else:
            config = TrainConfig(**options)
            _refuse_overwrite(out_dir, RUN_FILES, "training run", force, resume_hint=True)
            for name in _holds(out_dir, RUN_FILES):
                (out_dir / name).unlink()
        return train(config, out_dir, resume=resume, progress=progress, log=log)


def run_continual(out_dir: Path, options: dict, scenario: str, log=print, force: bool = False,
                  preset: str = "binary") -> dict:
    """BayesBiNN (prior = previous posterior) against STE on a task sequence -> ``continual.json``."""
    config = continual_config(preset, **options)
    out_dir = check_output_dir(out_dir)
    with lock_output(out_dir):
        _refuse_overwrite(out_dir, RUN_FILES, "training run", force)
        return train_continual(config, out_dir, scenario, log=log, preset=preset)


def run_uncertainty(run_dir: Path, out_dir: Path | None = None, ood: str = "digits", samples: int = 10) -> dict:
    """Ensemble NLL/ECE, reliability diagram and out-of-distribution AUROC of a trained run."""
    check_count(samples, "--samples")
    out = check_output_dir(out_dir if out_dir is not None else run_dir)
    with lock_output(out):
        return uncertainty_report(Path(run_dir), None if out_dir is None else Path(out_dir), ood=ood,
                                  samples=samples)


def _resumed_config(out_dir: Path, options: dict) -> TrainConfig:
    config = resume_config(out_dir, **{k: v for k, v in options.items() if k in RESUMABLE_CHANGES})
    saved = asdict(config)
    clashes = [k for k, v in options.items() if k not in RESUMABLE_CHANGES and saved[k] != v]
    if clashes:
        raise CheckpointError(
            f"{out_dir / 'checkpoint.pt'}: --resume continues the stored run; it was trained with "
            + ", ".join(f"{k}={saved[k]!r}" for k in clashes) + " (only "
            + ", ".join(sorted(RESUMABLE_CHANGES)) + " may change)")
    return config


SAMPLES_DIR = "samples"  # BUILD/samples/<k>/: posterior sample k, compiled and built like BUILD


def sample_dirs(build_dir: Path) -> list[Path]:
    root = Path(build_dir) / SAMPLES_DIR
    return sorted((d for d in root.iterdir() if d.name.isdigit()), key=lambda d: int(d.name)) if root.is_dir() else []


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
        _refuse_overwrite(out_dir, BUILD_MARKERS, "build", force)
        if out_dir.is_dir() and any(out_dir.iterdir()) and not _holds(out_dir, BUILD_MARKERS):
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
    with _existing_build(build_dir):
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
        _refuse_overwrite(build_dir, BUILD_MARKERS, "compiled build", force)
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


@contextlib.contextmanager
def _existing_build(build_dir: Path):
    """Lock on a build directory that must exist (build, simulate)."""
    build_dir = Path(build_dir)
    if not build_dir.is_dir():
        raise OutputDirError(f"{build_dir}: no such build directory; run `bnn2hw compile` first")
    with lock_output(build_dir):
        for hw_dir in [build_dir / "hw"] + [d / "hw" for d in sample_dirs(build_dir)]:
            recover_interrupted(hw_dir)  # a build killed mid-way: its previous hw/ comes back
        yield build_dir


def run_simulate(build_dir: Path, dataset: str | None = None, limit: int | None = None,
                 ensemble: int | None = None, data_dir: str | None = None, log=print) -> dict:
    """Bit-exact simulation of ``BUILD/hw`` on the test split -> ``BUILD/sim.json``."""
    check_count(limit, "--limit", 1)
    check_count(ensemble, "--ensemble")
    with _existing_build(build_dir):
        return simulate(Path(build_dir), dataset=dataset, limit=limit, ensemble=ensemble, data_dir=data_dir,
                        log=log)


def check_simulation(report: dict) -> None:
    """``CheckFailed`` when the simulated accelerator disagrees with model.onnx or overflows."""
    ens = report.get("ensemble") or {}
    mismatches = report["mismatches"] + ens.get("mismatches", 0)
    overflows = report["overflows"] + ens.get("overflows", 0)
    if mismatches or overflows:
        raise CheckFailed(f"the simulated accelerator gives {mismatches} mismatches with model.onnx and "
                          f"{overflows} overflows on {report['images']} images (see {report['build']}/sim.json)")


def run_rtl_layers(build_dir: Path, dataset: str | None = None, limit: int | None = None, stall: float = 0.0,
                   seed: int = 0, data_dir: str | None = None, log=print) -> dict:
    """Every RTL node of ``BUILD/hw`` in Verilator against ``bnn2hw.sim`` -> ``BUILD/rtl_layers.json``."""
    from bnn2hw.eda.rtl_layers import rtl_layers
    from bnn2hw.sim.api import test_split
    _check_rtl_options(limit, stall)
    with _existing_build(build_dir):
        images, _labels, _dataset = test_split(Path(build_dir), dataset, data_dir, limit)
        return rtl_layers(Path(build_dir), images, stall=stall, seed=seed, log=log)


def run_cppsim(build_dir: Path, dataset: str | None = None, limit: int | None = None, data_dir: str | None = None,
               hlslib: Path | None = None, log=print) -> dict:
    """Every HLS node of ``BUILD/hw`` under FINN's cppsim (g++) against ``bnn2hw.sim`` -> ``BUILD/cppsim.json``."""
    from bnn2hw.eda.cppsim_deps import find_deps
    from bnn2hw.hw.cppsim import cppsim_layers
    from bnn2hw.sim.accelerator import Accelerator
    from bnn2hw.sim.api import test_split
    check_count(limit, "--limit", 1)
    deps = find_deps(hlslib)  # before any work: its message says how to get finn-hlslib
    with _existing_build(build_dir):
        images, _labels, _dataset = test_split(Path(build_dir), dataset, data_dir, limit)
        streams = Accelerator.load(Path(build_dir) / "hw").node_streams(images)
        return cppsim_layers(Path(build_dir), streams, deps, log=log)


def check_cppsim(report: dict) -> None:
    """``CheckFailed`` when an HLS node or the labels under cppsim disagree with bnn2hw.sim."""
    if not report["passed"]:
        bad = {name: r["mismatched_images"] for name, r in report["nodes"].items() if r["mismatched_images"]}
        raise CheckFailed(f"cppsim disagrees with bnn2hw.sim on {report['images']} images: mismatched images per "
                          f"node {bad}, {report['label_mismatches']} label mismatches (see cppsim.json)")


def run_rtlsim(build_dir: Path, dataset: str | None = None, limit: int | None = None, stall: float = 0.0,
               seed: int = 0, ensemble: int | None = None, data_dir: str | None = None, log=print) -> dict:
    """The stitched ``accelerator`` of ``BUILD/hw`` in Verilator on the test split -> ``BUILD/rtlsim.json``."""
    from bnn2hw.eda.rtlsim import run_stitched
    from bnn2hw.sim.api import test_split
    _check_rtl_options(limit, stall)
    check_count(ensemble, "--ensemble", 1)
    with _existing_build(build_dir):
        images, labels, _dataset = test_split(Path(build_dir), dataset, data_dir, limit)
        return run_stitched(Path(build_dir), images, stall=stall, seed=seed, ensemble=ensemble, log=log,
                            true_labels=labels)


def run_shellsim(build_dir: Path, dataset: str | None = None, limit: int | None = None, data_dir: str | None = None,
                 log=print) -> dict:
    """The UART shell + stitched accelerator with a bit-level UART model -> ``BUILD/shellsim.json``."""
    from bnn2hw.eda.shell import simulate_shell
    from bnn2hw.sim.api import test_split
    check_count(limit, "--limit", 1)
    with _existing_build(build_dir):
        images, _labels, _dataset = test_split(Path(build_dir), dataset, data_dir, limit)
        return simulate_shell(Path(build_dir), images, log=log)


def check_shellsim(report: dict) -> None:
    if not report["passed"]:
        raise CheckFailed(f"the UART shell gives {report['label_mismatches']} wrong replies on {report['images']} "
                          f"images and detects {report['error_frames_detected']} of {report['error_frames']} "
                          "corrupted frames (see shellsim.json)")


def run_synth(build_dir: Path, check: int = 50, timeout_s: float = 1800, dataset: str | None = None,
              data_dir: str | None = None, log=print) -> dict:
    """Yosys synthesis of the stitched accelerator -> ``BUILD/hw/synth.json`` (+ the netlist in Verilator
    on ``check`` test images; 0: no check), figures recorded in estimates.json and report.md."""
    from bnn2hw.eda import EdaError
    from bnn2hw.eda.netlist import netlist_check
    from bnn2hw.eda.yosys import synthesize
    from bnn2hw.hw.synth_report import record_synthesis
    from bnn2hw.sim.api import test_split
    check_count(check, "--check")
    if not timeout_s > 0:
        raise ValueError(f"--timeout must be positive seconds, got {timeout_s}")
    build_dir = Path(build_dir)
    with _existing_build(build_dir):
        estimates = build_dir / "hw" / "estimates.json"
        if estimates.is_file() and "pnr" in json.loads(estimates.read_text()):
            raise ValueError(f"{build_dir} is an ECP5 build: its synthesis, place and route ran in `bnn2hw build` "
                             "(see estimates.json 'pnr'); `bnn2hw synth` targets the Zynq boards' Xilinx parts")
        synth = synthesize(build_dir, timeout_s=timeout_s, log=log)
        if check:
            images, _labels, _dataset = test_split(build_dir, dataset, data_dir, check)
            try:
                synth["netlist_check"] = netlist_check(build_dir, images, limit=check, log=log)
            except EdaError as err:
                if "no simulation model" not in str(err):
                    raise
                synth["netlist_check"] = {"skipped": str(err)}  # e.g. UltraScale+ block RAMs: said, not hidden
                log(f"  netlist check skipped: {err}")
        record_synthesis(build_dir / "hw", synth)
        return synth


def check_synth(synth: dict) -> None:
    """``CheckFailed`` when the netlist disagrees with the simulator or the design does not fit the board."""
    check = synth.get("netlist_check") or {}
    if check.get("mismatched_images"):
        raise CheckFailed(f"the synthesized netlist disagrees with bnn2hw.sim on {check['mismatched_images']} of "
                          f"{check['images']} images (see hw/synth.json)")
    if synth.get("fits") is False:
        over = ", ".join(f"{k} {100 * v:.0f}%" for k, v in synth["utilization"].items() if v > 1)
        raise CheckFailed(f"the synthesized design does not fit the board: {over} (see hw/report.md)")


def _check_rtl_options(limit: int | None, stall: float) -> None:
    check_count(limit, "--limit", 1)
    if not 0 <= stall < 1:
        raise ValueError(f"--stall must be a probability in [0, 1), got {stall}")


def check_rtlsim(report: dict) -> None:
    """``CheckFailed`` when the stitched RTL disagrees with bnn2hw.sim or model.onnx (any pass)."""
    if not report["passed"]:
        raise CheckFailed(f"the stitched RTL accelerator gives {report['label_mismatches']} mismatches with "
                          f"bnn2hw.sim and {report['reference_label_mismatches']} with model.onnx on "
                          f"{report['images']} images (see rtlsim.json)")


def run_deploy(build_dir: Path, out_dir: Path, ensemble: int | None = None, test_limit: int | None = None,
               data_dir: str | None = None, log=print, force: bool = False) -> dict:
    """``BUILD`` -> a self-contained PYNQ package in ``out_dir`` (driver checked against the simulator)."""
    check_count(ensemble, "--ensemble")
    check_count(test_limit, "--test-limit", 1)
    out_dir = check_output_dir(out_dir)
    if out_dir.resolve() == Path(build_dir).resolve():
        raise OutputDirError(f"--out {out_dir}: is the build directory; the package goes into a folder of its own")
    with _existing_build(build_dir), lock_output(out_dir):
        _refuse_overwrite(out_dir, [PACKAGE_MARKER], "deploy package", force)
        return deploy(Path(build_dir), out_dir, ensemble=ensemble, test_limit=test_limit, data_dir=data_dir,
                      log=log)


def run_flow(out_dir: Path, progress: bool = True, log=print, force: bool = False) -> dict:
    """The whole flow on the embedded default data: train (digits, TFC, BayesBiNN) -> compile
    (mode + posterior samples) -> build (pynq-z2, RTL layers) -> simulate (bit-exact simulator, then
    the stitched RTL in Verilator when installed) -> deploy. Stops with ``CheckFailed`` at the first
    stage whose check fails."""
    run_dir, build_dir = Path(out_dir) / "run", Path(out_dir) / "build"
    deploy_dir = Path(out_dir) / "deploy"
    for directory in (run_dir, build_dir, deploy_dir):
        check_output_dir(directory, "--out")
    metrics = run_train(run_dir, asdict(DEFAULT_FLOW), progress=progress, log=log, force=force)
    log(f"compiling {run_dir} -> {build_dir}")
    verify = run_compile(run_dir, build_dir, samples=FLOW_SAMPLES, force=force)
    check_compile(verify)
    log(f"building {build_dir}/hw for {FLOW_BOARD} in RTL (and {FLOW_SAMPLES} posterior samples, same folding)")
    hw = run_build(build_dir, board=FLOW_BOARD, fps=FLOW_FPS, runtime_weights=True, log=log, impl="rtl")
    log(f"simulating {build_dir}/hw bit-exactly")
    sim = run_simulate(build_dir, ensemble=FLOW_SAMPLES, log=log)
    check_simulation(sim)
    rtlsim = None
    if shutil.which("verilator"):
        log("simulating the stitched RTL accelerator in Verilator (samples written over AXI-lite)")
        rtlsim = run_rtlsim(build_dir, ensemble=FLOW_SAMPLES, log=log)
        check_rtlsim(rtlsim)
    else:
        log("Verilator not installed (apt-get install verilator): the RTL simulation is skipped")
    log(f"packaging {deploy_dir}")
    package = run_deploy(build_dir, deploy_dir, ensemble=FLOW_SAMPLES, log=log, force=force)
    return {"run_dir": str(run_dir), "train": metrics, "build_dir": str(build_dir), "compile": verify,
            "build": hw, "simulate": sim, "rtlsim": rtlsim, "deploy_dir": str(deploy_dir), "deploy": package}
