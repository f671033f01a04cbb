"""Pipeline stages of ``bnn2hw deploy`` and ``bnn2hw flow``: the deployment package, and the whole
flow on the embedded default data (what ``make demo`` runs).
"""

from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path

from bnn2hw.errors import OutputDirError
from bnn2hw.output_dir import check_output_dir, lock_output
from bnn2hw.deploy import deploy
from bnn2hw.hw.config import BuildConfig, Impl
from bnn2hw.train import TrainConfig
from bnn2hw.pipeline.building import check_compile, run_build, run_compile
from bnn2hw.pipeline.checking import check_rtlsim, check_simulation, run_rtlsim, run_simulate
from bnn2hw.pipeline.common import PACKAGE_MARKER, check_count, existing_build, refuse_overwrite
from bnn2hw.pipeline.training import run_train


DEFAULT_FLOW = TrainConfig(model="tfc", dataset="digits", method="bayesbinn", epochs=20)
FLOW_BOARD = "pynq-z2"
FLOW_FPS = 100_000  # a folded design (the fully parallel TFC would take most of the board)
FLOW_SAMPLES = 3  # posterior samples compiled, built (runtime weights), simulated and packaged
# RTL layers, checked in Verilator; runtime weights, so the samples are written over AXI-lite
FLOW_BUILD = BuildConfig(board=FLOW_BOARD, fps=FLOW_FPS, runtime_weights=True, impl=Impl.RTL)


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
    hw = run_build(build_dir, FLOW_BUILD, log=log)
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
