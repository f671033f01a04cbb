"""The part of the build that needs Vivado and Vitis HLS: IP, FIFO sizing, stitched IP, bitfile.

Contract: ``PENDING`` names, in order, what a build without the tools does not do (the report
and the CLI message list it). ``vivado_steps()`` is FINN's own default tail, unchanged:
``step_assign_ddr_weight_offsets``, ``step_generate_hardware`` (PrepareIP, Vitis HLS synthesis
of every HLS layer, FIFO insertion and sizing), ``step_create_stitched_ip``,
``step_synthesize_bitfile`` (Zynq shell: IODMAs, block design, synthesis, place and route);
``configure_for_bitfile(cfg)`` turns on the outputs and shell flow they need. After the run,
``collect_bitfile`` copies ``finn-accel.bit`` / ``.hwh`` into ``BUILD/hw/bitfile/`` and
``measured_resources`` reads FINN's post-synthesis resource report (None when absent).
Nothing here runs without the tools; ``bnn2hw.hw.api`` decides (``finn_env.xilinx_tools``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bnn2hw.hw.finn_env import import_finn, require_psutil

PENDING = (
    "HLS synthesis of every HLS layer into IP (Vitis HLS; FINN step_generate_hardware / HLSSynthIP)",
    "FIFO insertion and sizing by RTL simulation (Vivado XSI; FINN step_set_fifo_depths)",
    "stitched IP of the dataflow accelerator (Vivado IP integrator; FINN step_create_stitched_ip)",
    "Zynq shell, synthesis, place and route, finn-accel.bit + finn-accel.hwh (Vivado; FINN "
    "step_synthesize_bitfile) into BUILD/hw/bitfile/",
    "measured post-synthesis resources into estimates.json (FINN post_synth_res)",
)
# --impl rtl: every layer is RTL already and the stitched top's FIFOs are sized in Verilator.
PENDING_RTL = (
    "the stitched BUILD/hw/rtl/accelerator.sv packaged as IP inside the Zynq shell (Vivado IP integrator; "
    "FINN step_create_stitched_ip)",
    "synthesis, place and route, finn-accel.bit + finn-accel.hwh (Vivado; FINN step_synthesize_bitfile) "
    "into BUILD/hw/bitfile/",
    "Vivado's post-synthesis resources into estimates.json (`bnn2hw synth BUILD` gives Yosys's without Vivado)",
)


def pending_steps(impl: str) -> list[str]:
    """What a build stopped after code generation leaves for Vivado / Vitis, for ``impl`` (hls | rtl)."""
    return list(PENDING_RTL if str(impl) == "rtl" else PENDING)
BITFILE_DIR = "bitfile"


def configure_for_bitfile(cfg):
    """``cfg`` with the stitched IP and bitfile outputs and the Zynq shell flow switched on."""
    from finn.builder.build_dataflow_config import DataflowOutputType, ShellFlowType
    cfg.generate_outputs = [DataflowOutputType.ESTIMATE_REPORTS, DataflowOutputType.STITCHED_IP,
                            DataflowOutputType.BITFILE]
    cfg.shell_flow_type = ShellFlowType.VIVADO_ZYNQ
    return cfg


def vivado_steps() -> list:
    import_finn()
    require_psutil()
    import finn.builder.build_dataflow_steps as finn_steps
    return [finn_steps.step_assign_ddr_weight_offsets, finn_steps.step_generate_hardware,
            finn_steps.step_create_stitched_ip, finn_steps.step_synthesize_bitfile]


def collect_bitfile(finn_dir: Path, hw_dir: Path) -> list[str]:
    """Copy FINN's bitfile and hardware handoff into ``hw_dir/bitfile``; the copied paths."""
    source, target = Path(finn_dir) / "bitfile", Path(hw_dir) / BITFILE_DIR
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in ("finn-accel.bit", "finn-accel.hwh"):
        if (source / name).exists():
            shutil.copy(source / name, target / name)
            copied.append(str(target / name))
    return copied


def measured_resources(finn_dir: Path) -> dict | None:
    """FINN's post-synthesis resource report (``report/post_synth_resources.json``), if any."""
    path = Path(finn_dir) / "report" / "post_synth_resources.json"
    return json.loads(path.read_text()) if path.exists() else None
