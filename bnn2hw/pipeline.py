"""The pipeline: one function per CLI command, in the order data flows.

Contract: each ``run_*`` function takes plain arguments and frozen configs, writes its
artifacts (DESIGN.md, "Artifacts") under the directory it is given, and returns a summary
dict. They raise the stage's own errors (``DatasetError``, ``CheckpointError``,
``TrainingDiverged``, ``CompileError``, ``HwError``, ``SimError``, ``DeployError``,
``ValueError``); the CLI turns those into one-line messages.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, fields
from pathlib import Path

from bnn2hw.compile import compile_run
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


def run_train(out_dir: Path, options: dict, resume: bool = False, progress: bool = True, log=print) -> dict:
    """Train into ``out_dir``; ``options`` holds only the TrainConfig fields the user set."""
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown training options: {', '.join(sorted(unknown))}")
    if resume:
        config = _resumed_config(Path(out_dir), options)
    else:
        config = TrainConfig(**options)
    return train(config, Path(out_dir), resume=resume, progress=progress, log=log)


def run_continual(out_dir: Path, options: dict, scenario: str, log=print) -> dict:
    """BayesBiNN (prior = previous posterior) against STE on a task sequence -> ``continual.json``."""
    return train_continual(continual_config(**options), Path(out_dir), scenario, log=log)


def run_uncertainty(run_dir: Path, out_dir: Path | None = None, ood: str = "digits", samples: int = 10) -> dict:
    """Ensemble NLL/ECE, reliability diagram and out-of-distribution AUROC of a trained run."""
    return uncertainty_report(Path(run_dir), None if out_dir is None else Path(out_dir), ood=ood, samples=samples)


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
                data_dir: str | None = None) -> dict:
    """Trained run -> ``out_dir/model.onnx`` (QONNX) and ``out_dir/verify.json``; with
    ``samples=K`` also posterior samples 0..K-1 into ``out_dir/samples/<k>/`` (ensembles)."""
    summary = compile_run(Path(run_dir), Path(out_dir), sample=sample, data_dir=data_dir)
    summary["samples"] = [compile_run(Path(run_dir), Path(out_dir) / SAMPLES_DIR / str(k), sample=k,
                                      data_dir=data_dir) for k in range(samples)]
    return summary


def run_build(build_dir: Path, board: str = "pynq-z2", fps: float | None = None, clock_mhz: float | None = None,
              folding: str | None = None, verify_limit: int | None = None, runtime_weights: bool = False,
              log=print, impl: str = "hls") -> dict:
    """``BUILD/model.onnx`` -> FINN dataflow accelerator in ``BUILD/hw/`` (to code generation without
    Vivado); every compiled posterior sample in ``BUILD/samples/<k>/`` is built with the same folding."""
    summary = build_hw(Path(build_dir), board=board, fps=fps, clock_mhz=clock_mhz, folding=folding,
                       verify_limit=verify_limit, runtime_weights=runtime_weights, impl=impl, log=log)
    folding_json = str(Path(summary["hw_dir"]) / "folding.json")
    summary["samples"] = [build_hw(d, board=board, clock_mhz=clock_mhz, folding=folding_json,
                                   verify_limit=verify_limit, runtime_weights=runtime_weights, impl=impl,
                                   log=lambda _: None)
                          for d in sample_dirs(build_dir)]
    return summary


def run_simulate(build_dir: Path, dataset: str | None = None, limit: int | None = None,
                 ensemble: int | None = None, data_dir: str | None = None, log=print) -> dict:
    """Bit-exact simulation of ``BUILD/hw`` on the test split -> ``BUILD/sim.json``."""
    return simulate(Path(build_dir), dataset=dataset, limit=limit, ensemble=ensemble, data_dir=data_dir, log=log)


def run_rtl_layers(build_dir: Path, dataset: str | None = None, limit: int | None = None, stall: float = 0.0,
                   seed: int = 0, data_dir: str | None = None, log=print) -> dict:
    """Every RTL node of ``BUILD/hw`` in Verilator against ``bnn2hw.sim`` -> ``BUILD/rtl_layers.json``."""
    from bnn2hw.eda.rtl_layers import rtl_layers
    from bnn2hw.sim.api import test_split
    if not 0 <= stall < 1:
        raise ValueError(f"--stall must be a probability in [0, 1), got {stall}")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be a positive number of images, got {limit}")
    images, _labels, _dataset = test_split(Path(build_dir), dataset, data_dir, limit)
    return rtl_layers(Path(build_dir), images, stall=stall, seed=seed, log=log)


def run_rtlsim(build_dir: Path, dataset: str | None = None, limit: int | None = None, stall: float = 0.0,
               seed: int = 0, ensemble: int | None = None, data_dir: str | None = None, log=print) -> dict:
    """The stitched ``accelerator`` of ``BUILD/hw`` in Verilator on the test split -> ``BUILD/rtlsim.json``."""
    from bnn2hw.eda.rtlsim import run_stitched
    from bnn2hw.sim.api import test_split
    if not 0 <= stall < 1:
        raise ValueError(f"--stall must be a probability in [0, 1), got {stall}")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be a positive number of images, got {limit}")
    if ensemble is not None and ensemble < 1:
        raise ValueError(f"--ensemble must be a positive number of samples, got {ensemble}")
    images, labels, _dataset = test_split(Path(build_dir), dataset, data_dir, limit)
    return run_stitched(Path(build_dir), images, stall=stall, seed=seed, ensemble=ensemble, log=log,
                        true_labels=labels)


def run_deploy(build_dir: Path, out_dir: Path, ensemble: int | None = None, test_limit: int | None = None,
               data_dir: str | None = None, log=print) -> dict:
    """``BUILD`` -> a self-contained PYNQ package in ``out_dir`` (driver checked against the simulator)."""
    return deploy(Path(build_dir), Path(out_dir), ensemble=ensemble, test_limit=test_limit, data_dir=data_dir,
                  log=log)


def run_flow(out_dir: Path, progress: bool = True, log=print) -> dict:
    """The whole flow on the embedded default data: train (digits, TFC, BayesBiNN) -> compile
    (mode + posterior samples) -> build (pynq-z2, RTL layers) -> simulate (bit-exact simulator, then
    the stitched RTL in Verilator when installed) -> deploy."""
    run_dir, build_dir = Path(out_dir) / "run", Path(out_dir) / "build"
    metrics = run_train(run_dir, asdict(DEFAULT_FLOW), progress=progress, log=log)
    log(f"compiling {run_dir} -> {build_dir}")
    verify = run_compile(run_dir, build_dir, samples=FLOW_SAMPLES)
    log(f"building {build_dir}/hw for {FLOW_BOARD} in RTL (and {FLOW_SAMPLES} posterior samples, same folding)")
    hw = run_build(build_dir, board=FLOW_BOARD, fps=FLOW_FPS, runtime_weights=True, log=log, impl="rtl")
    log(f"simulating {build_dir}/hw bit-exactly")
    sim = run_simulate(build_dir, ensemble=FLOW_SAMPLES, log=log)
    rtlsim = None
    if shutil.which("verilator"):
        log("simulating the stitched RTL accelerator in Verilator (samples written over AXI-lite)")
        rtlsim = run_rtlsim(build_dir, ensemble=FLOW_SAMPLES, log=log)
    else:
        log("Verilator not installed (apt-get install verilator): the RTL simulation is skipped")
    deploy_dir = Path(out_dir) / "deploy"
    log(f"packaging {deploy_dir}")
    package = run_deploy(build_dir, deploy_dir, ensemble=FLOW_SAMPLES, log=log)
    return {"run_dir": str(run_dir), "train": metrics, "build_dir": str(build_dir), "compile": verify,
            "build": hw, "simulate": sim, "rtlsim": rtlsim, "deploy_dir": str(deploy_dir), "deploy": package}
