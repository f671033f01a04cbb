"""Pipeline stages of ``bnn2hw deploy`` and ``bnn2hw flow``: the deployment package, and the whole
flow on the embedded default data (what ``make demo`` runs).
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from bnn2hw.errors import OutputDirError
from bnn2hw.output_dir import check_output_dir, lock_output
from bnn2hw.deploy import deploy
from bnn2hw.hw.config import BuildConfig, Impl
from bnn2hw.train import TrainConfig
from bnn2hw.pipeline.building import check_compile, run_build, run_compile
from bnn2hw.pipeline.checking import (check_rtlsim, check_shellsim, check_simulation, run_rtlsim, run_shellsim,
                                      run_simulate)
from bnn2hw.pipeline.common import PACKAGE_MARKER, check_count, existing_build, refuse_overwrite
from bnn2hw.pipeline.training import run_train


@dataclass(frozen=True)
class FlowConfig:
    """``bnn2hw flow``: what to train and build; the defaults are ``make demo``'s. ``samples=None``
    means 3 posterior samples for a method with a posterior (compiled, built with runtime weights,
    simulated and packaged as an ensemble), none otherwise and none on ECP5 boards (their UART shell
    has no weight port). ``fps=None`` is the highest rate that fits the board."""

    model: str = "tfc"
    dataset: str = "digits"
    method: str = "bayesbinn"
    board: str = "pynq-z2"
    impl: str = "rtl"
    fps: float | None = 100_000  # a folded design (the fully parallel TFC would take most of the PYNQ-Z2)
    epochs: int = 20
    samples: int | None = None
    data_dir: str | None = None


DEFAULT_SAMPLES = 3


def flow_samples(config: FlowConfig, ecp5: bool) -> int:
    """How many posterior samples the flow compiles and ensembles (see ``FlowConfig``)."""
    from bnn2hw.train.method_base import Method
    if config.samples is None:
        return DEFAULT_SAMPLES if Method(config.method).probabilistic and not ecp5 else 0
    check_count(config.samples, "--samples")
    if config.samples and ecp5:
        raise ValueError(f"--samples {config.samples}: board {config.board} is ECP5, whose UART shell has no weight "
                         "port to swap samples in; use --samples 0 (or a PYNQ board for ensembles)")
    return config.samples


def run_deploy(build_dir: Path, out_dir: Path, ensemble: int | None = None, test_limit: int | None = None,
               data_dir: str | None = None, log=print, force: bool = False) -> dict:
    """``BUILD`` -> a self-contained PYNQ package in ``out_dir`` (driver checked against the simulator)."""
    check_count(ensemble, "--ensemble")
    check_count(test_limit, "--test-limit", 1)
    out_dir = check_output_dir(out_dir)
    if out_dir.resolve() == Path(build_dir).resolve():
        raise OutputDirError(f"--out {out_dir}: is the build directory; the package goes into a folder of its own")
    with existing_build(build_dir), lock_output(out_dir):
        refuse_overwrite(out_dir, [PACKAGE_MARKER], "deploy package", force)
        return deploy(Path(build_dir), out_dir, ensemble=ensemble, test_limit=test_limit, data_dir=data_dir,
                      log=log)


def run_flow(out_dir: Path, config: FlowConfig = FlowConfig(), progress: bool = True, log=print,
             force: bool = False) -> dict:
    """The whole flow: train -> compile (mode + posterior samples) -> build (RTL or HLS layers; an
    ECP5 board: a bitstream) -> simulate (bit-exact simulator, then the stitched RTL in Verilator
    when installed, and the UART shell on ECP5) -> deploy (a PYNQ or UART package). Stops with
    ``CheckFailed`` at the first stage whose check fails; bad options are refused before training."""
    from bnn2hw.boards import UnknownBoard, load_board
    run_dir, build_dir, deploy_dir = (Path(out_dir) / name for name in ("run", "build", "deploy"))
    for directory in (run_dir, build_dir, deploy_dir):
        check_output_dir(directory, "--out")
    try:
        ecp5 = load_board(config.board).family == "ecp5"
    except UnknownBoard as err:
        raise ValueError(f"--board: {err}") from None
    samples = flow_samples(config, ecp5)
    build = BuildConfig(board=config.board, fps=config.fps, runtime_weights=samples > 0, impl=Impl(config.impl),
                        data_dir=config.data_dir)  # checks the build options before training starts
    train = TrainConfig(model=config.model, dataset=config.dataset, method=config.method, epochs=config.epochs,
                        data_dir=config.data_dir)
    metrics = run_train(run_dir, asdict(train), progress=progress, log=log, force=force)
    log(f"compiling {run_dir} -> {build_dir}" + f" (and {samples} posterior samples)" * bool(samples))
    verify = run_compile(run_dir, build_dir, samples=samples, data_dir=config.data_dir, force=force)
    check_compile(verify)
    log(f"building {build_dir}/hw for {config.board} ({config.impl} layers)" + " and a bitstream" * ecp5)
    hw = run_build(build_dir, build, log=log, force=force)
    log(f"simulating {build_dir}/hw bit-exactly")
    sim = run_simulate(build_dir, ensemble=samples or None, data_dir=config.data_dir, log=log)
    check_simulation(sim)
    rtlsim = shellsim = None
    if build.impl == Impl.RTL and shutil.which("verilator"):
        log("simulating the stitched RTL accelerator in Verilator" + " (samples written over AXI-lite)" * bool(samples))
        rtlsim = run_rtlsim(build_dir, ensemble=samples or None, data_dir=config.data_dir, log=log)
        check_rtlsim(rtlsim)
        if ecp5:
            log("simulating the UART shell around it, bit by bit")
            shellsim = run_shellsim(build_dir, data_dir=config.data_dir, log=log)
            check_shellsim(shellsim)
    elif build.impl == Impl.RTL:
        log("Verilator not installed (apt-get install verilator): the RTL simulation is skipped")
    log(f"packaging {deploy_dir}")
    package = run_deploy(build_dir, deploy_dir, ensemble=samples or None, data_dir=config.data_dir, log=log,
                         force=force)
    return {"run_dir": str(run_dir), "train": metrics, "build_dir": str(build_dir), "compile": verify,
            "build": hw, "simulate": sim, "rtlsim": rtlsim, "shellsim": shellsim, "deploy_dir": str(deploy_dir),
            "deploy": package}
