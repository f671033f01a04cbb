"""Pipeline stages of ``bnn2hw simulate`` and ``bnn2hw synth``: the verification rungs run on a
build (bit-exact simulator, RTL layers, FINN cppsim, stitched RTL, UART shell, Yosys) and the
``check_*`` that turn a failed report into ``CheckFailed``.
"""

from __future__ import annotations

import json
from pathlib import Path

from bnn2hw.errors import CheckFailed
from bnn2hw.sim import simulate
from bnn2hw.pipeline.common import check_count, existing_build


def run_simulate(build_dir: Path, dataset: str | None = None, limit: int | None = None,
                 ensemble: int | None = None, data_dir: str | None = None, log=print) -> dict:
    """Bit-exact simulation of ``BUILD/hw`` on the test split -> ``BUILD/sim.json``."""
    check_count(limit, "--limit", 1)
    check_count(ensemble, "--ensemble")
    with existing_build(build_dir):
        return simulate(Path(build_dir), dataset=dataset, limit=limit, ensemble=ensemble, data_dir=data_dir,
                        log=log)


def check_simulation(report: dict) -> None:
    """``CheckFailed`` when the simulated accelerator disagrees with model.onnx or overflows."""
    ens, onchip = report.get("ensemble") or {}, report.get("onchip_ensemble") or {}
    mismatches = report["mismatches"] + ens.get("mismatches", 0)
    overflows = report["overflows"] + ens.get("overflows", 0) + onchip.get("overflows", 0)
    if mismatches or overflows:
        raise CheckFailed(f"the simulated accelerator gives {mismatches} mismatches with model.onnx and "
                          f"{overflows} overflows on {report['images']} images (see {report['build']}/sim.json)")


def run_rtl_layers(build_dir: Path, dataset: str | None = None, limit: int | None = None, stall: float = 0.0,
                   seed: int = 0, data_dir: str | None = None, log=print) -> dict:
    """Every RTL node of ``BUILD/hw`` in Verilator against ``bnn2hw.sim`` -> ``BUILD/rtl_layers.json``."""
    from bnn2hw.eda.rtl_layers import rtl_layers
    from bnn2hw.sim.api import test_split
    _check_rtl_options(limit, stall)
    with existing_build(build_dir):
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
    with existing_build(build_dir):
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
    with existing_build(build_dir):
        images, labels, _dataset = test_split(Path(build_dir), dataset, data_dir, limit)
        return run_stitched(Path(build_dir), images, stall=stall, seed=seed, ensemble=ensemble, log=log,
                            true_labels=labels)


def run_shellsim(build_dir: Path, dataset: str | None = None, limit: int | None = None, data_dir: str | None = None,
                 log=print, ensemble: int | None = None) -> dict:
    """The UART shell + stitched accelerator with a bit-level UART model -> ``BUILD/shellsim.json``;
    with ``ensemble`` = K (a build with the posterior sampler) every image goes as an ensemble frame of K
    passes and each pass's reply is checked against ``bnn2hw.sim.posterior`` (``onchip_ensemble``)."""
    from bnn2hw.eda.rtl_layers import load_manifest
    from bnn2hw.eda.shell import MAX_PASSES
    from bnn2hw.eda.shell_run import simulate_shell
    from bnn2hw.sim.api import test_split
    check_count(limit, "--limit", 1)
    check_count(ensemble, "--ensemble", 1)
    if ensemble and ensemble > MAX_PASSES:
        raise ValueError(f"--ensemble {ensemble}: the UART frame header holds K up to {MAX_PASSES}")
    if ensemble and not load_manifest(Path(build_dir)).get("sampler"):
        raise ValueError(f"--shell --ensemble: {build_dir}'s stitched accelerator has no posterior sampler (the UART "
                         f"shell has no weight port); compile with --posterior-bits 4 and build --impl rtl")
    with existing_build(build_dir):
        images, labels, _dataset = test_split(Path(build_dir), dataset, data_dir, limit)
        return simulate_shell(Path(build_dir), images, log=log, ensemble=ensemble, true_labels=labels)


def check_shellsim(report: dict) -> None:
    if not report["passed"]:
        raise CheckFailed(f"the UART shell gives {report['wrong_replies']} wrong replies on {report['images']} "
                          f"images and detects {report['error_frames_detected']} of {report['error_frames']} "
                          "corrupted frames (see shellsim.json; an ensemble's passes: onchip_ensemble)")


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
    with existing_build(build_dir):
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
        ens = report.get("ensemble", {})
        bad_samples = sum(p["label_mismatches"] for p in ens.get("samples", []))
        raise CheckFailed(f"the stitched RTL accelerator gives {report['label_mismatches']} mismatches with "
                          f"bnn2hw.sim ({bad_samples} in the posterior samples' passes) and "
                          f"{report['reference_label_mismatches']} label / "
                          f"{report.get('reference_score_mismatches') or 0} score mismatches with model.onnx on "
                          f"{report['images']} images (see rtlsim.json)")
