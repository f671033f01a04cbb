"""The build as a list of ``step(model, cfg) -> model`` functions: FINN's own steps plus bnn2hw's.

Contract: ``flow_steps(state)`` returns the steps in order: FINN's ``step_qonnx_to_finn``,
``step_tidy_up``, ``step_streamline``; bnn2hw's ``step_round_thresholds`` (FINN's
``RoundAndClipThresholds``, which finn-plus 1.6.1's streamlining leaves out: imported models'
float thresholds), ``step_pad_to_nhwc`` (``MovePadAfterTranspose``);
FINN's ``step_convert_to_hw``, ``step_minimize_bit_width_initial``; bnn2hw's
``step_save_hw_layers`` (the HW-layer graph the final check executes), with ``output`` scores
``step_drop_label_select`` (``DropLabelSelect``: the accelerator outputs the scores); FINN's
``step_create_dataflow_partition``, ``step_specialize_layers``; bnn2hw's ``step_fold`` (rate-driven
folding or the user's JSON, in place of FINN's ``step_target_fps_parallelization``); FINN's
``step_minimize_bit_width``; bnn2hw's ``step_widen_xnor_accumulators`` (a finn-plus 1.6.1 bug, see
``bnn2hw.hw.passes``); FINN's ``step_transpose_decomposition``, ``step_generate_estimate_reports``;
then, with ``codegen``, FINN's ``step_hw_codegen`` (``PrepareIP``: HLS C++, RTL, Tcl; no Vivado).
With ``impl`` rtl, ``step_specialize_layers_rtl`` (``bnn2hw.hw.rtl.specialize``) takes the place
of FINN's specialisation and ``step_export_rtl`` writes ``hw/rtl/`` after code generation.
``run_steps`` runs them like FINN's builder does (see ``finn_env`` quirk 3 for why not the
builder itself), timing each and sending FINN's console chatter to ``hw/finn/build.log``.
Every FINN step function is called unchanged, with a ``DataflowBuildConfig`` made by
``finn_config``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bnn2hw.boards import Board
from bnn2hw.hw.config import BuildCheckFailed, BuildConfig, HwError, Impl, Output
from bnn2hw.hw.finn_env import import_finn

HW_LAYERS_FILE, PARENT_FILE = "hw_layers.onnx", "dataflow_parent.onnx"


@dataclass
class BuildState:
    """What one build knows and has decided so far (mutable, one per build)."""

    config: BuildConfig
    board: Board
    clock_mhz: float
    hw_dir: Path
    log: Callable[[str], None] = print
    plan: object = None                      # folding.Plan when bnn2hw chose the folding
    folding_source: str = ""
    seconds: dict = field(default_factory=dict)

    def log_progress(self, line: str) -> None:
        """``log`` while FINN's output is redirected: progress still reaches the real stdout."""
        if self.log is print:
            print(line, file=sys.__stdout__, flush=True)
        else:
            self.log(line)

    @property
    def finn_dir(self) -> Path:
        return self.hw_dir / "finn"


def finn_config(state: BuildState):
    """FINN's ``DataflowBuildConfig`` for this build (estimate outputs; the steps decide the rest)."""
    import_finn()
    from finn.builder.build_dataflow_config import DataflowBuildConfig, DataflowOutputType
    return DataflowBuildConfig(
        output_dir=str(state.finn_dir), synth_clk_period_ns=1000.0 / state.clock_mhz,
        board=state.board.finn_board, fpga_part=state.board.fpga_part,
        generate_outputs=[DataflowOutputType.ESTIMATE_REPORTS], save_intermediate_models=True,
        verify_steps=[], enable_exception_snapshots=False)


def _named(name: str, fn: Callable) -> Callable:
    fn.__name__ = name
    return fn


def _bnn2hw_steps(state: BuildState) -> dict[str, Callable]:
    from bnn2hw.hw.passes import DropLabelSelect, MovePadAfterTranspose, WidenXnorAccumulators

    def step_pad_to_nhwc(model, cfg):
        return model.transform(MovePadAfterTranspose())

    def step_round_thresholds(model, cfg):
        # finn-plus 1.6.1's step_streamline leaves the float thresholds it folds from an imported
        # model's batchnorms (e.g. 378.74, or -35.7 below a popcount's range), which its XNOR MVAU
        # refuses (minimize_bit_width asserts thresholds >= 0); on integer inputs, ceil and clip
        # to the input's range change no comparison. bnn2hw's own thresholds are already exact.
        from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds
        return model.transform(RoundAndClipThresholds())

    def step_save_hw_layers(model, cfg):
        model.save(str(state.hw_dir / HW_LAYERS_FILE))
        return model

    def step_drop_label_select(model, cfg):
        try:
            return model.transform(DropLabelSelect())
        except ValueError as err:
            raise HwError(f"--output scores: {err}") from None

    def step_save_parent(model, cfg):
        parent = Path(cfg.output_dir) / "intermediate_models" / PARENT_FILE
        if parent.exists():
            (state.hw_dir / PARENT_FILE).write_bytes(parent.read_bytes())
        return model

    def step_fold(model, cfg):
        model = fold(model, state)
        return with_runtime_weights(model) if state.config.runtime_weights else model

    def step_widen_xnor_accumulators(model, cfg):
        return model.transform(WidenXnorAccumulators())

    def step_export_rtl(model, cfg):
        from qonnx.custom_op.registry import getCustomOp

        from bnn2hw.eda import EdaError
        from bnn2hw.eda.rtlsim import write_accelerator
        from bnn2hw.hw.rtl.export import export_rtl
        export_rtl(model, state.hw_dir)
        model.save(str(state.hw_dir / "dataflow.onnx"))  # what the FIFO-sizing simulation reads
        try:
            depths = write_accelerator(state.hw_dir, log=state.log_progress)
        except EdaError as err:
            raise HwError(f"stitching the accelerator: {err}") from None
        for node, depth in zip(model.graph.node, depths):
            getCustomOp(node).set_nodeattr("inFIFODepths", [int(depth)])
        getCustomOp(model.graph.node[-1]).set_nodeattr("outFIFODepths", [int(depths[-1])])
        return model

    return {name: _named(name, fn) for name, fn in (
        ("step_pad_to_nhwc", step_pad_to_nhwc), ("step_round_thresholds", step_round_thresholds),
        ("step_save_hw_layers", step_save_hw_layers),
        ("step_save_parent", step_save_parent), ("step_fold", step_fold),
        ("step_drop_label_select", step_drop_label_select),
        ("step_widen_xnor_accumulators", step_widen_xnor_accumulators), ("step_export_rtl", step_export_rtl))}


def flow_steps(state: BuildState, codegen: bool) -> list[Callable]:
    import_finn()
    import finn.builder.build_dataflow_steps as finn_steps
    ours = _bnn2hw_steps(state)
    steps = [finn_steps.step_qonnx_to_finn, finn_steps.step_tidy_up, finn_steps.step_streamline,
             ours["step_round_thresholds"], ours["step_pad_to_nhwc"], finn_steps.step_convert_to_hw,
             # widened before hw_layers.onnx is saved too: the final check executes it, and qonnx warns
             # ("can't be represented ... INT7") on popcounts above finn-plus 1.6.1's annotation
             finn_steps.step_minimize_bit_width_initial, ours["step_widen_xnor_accumulators"],
             ours["step_save_hw_layers"],
             finn_steps.step_create_dataflow_partition, ours["step_save_parent"],
             finn_steps.step_specialize_layers, ours["step_fold"], finn_steps.step_minimize_bit_width,
             ours["step_widen_xnor_accumulators"], finn_steps.step_transpose_decomposition,
             finn_steps.step_generate_estimate_reports]
    from bnn2hw.hw.rtl.specialize import step_specialize_layers_hls, step_specialize_layers_rtl
    specialize = step_specialize_layers_rtl if state.config.impl == Impl.RTL else step_specialize_layers_hls
    steps[steps.index(finn_steps.step_specialize_layers)] = specialize
    if state.config.output == Output.SCORES:
        steps.insert(steps.index(ours["step_save_hw_layers"]) + 1, ours["step_drop_label_select"])
    if codegen:
        steps.append(finn_steps.step_hw_codegen)
        if state.config.impl == Impl.RTL:
            steps.append(ours["step_export_rtl"])
    return steps


def fold(model, state: BuildState):
    """Apply the user's folding JSON, or choose PE/SIMD for the rate (see ``bnn2hw.hw.folding``)."""
    from qonnx.transformation.general import GiveUniqueNodeNames

    from bnn2hw.hw import folding
    model = model.transform(GiveUniqueNodeNames())
    if state.config.folding is not None:
        return _apply_user_folding(model, state)
    tables = folding.option_tables(model, state.board.fpga_part)
    names = [", ".join(name for name, _ in options[0].attrs) for options in tables]
    try:
        if state.config.fps is None:
            plan = folding.plan_fastest_fitting(tables, state.board, state.config.max_utilization)
            if plan is None:
                raise folding.FoldingError(f"the network does not fit {state.board.name} even fully folded")
            state.folding_source = f"highest rate that fits {state.board.name}"
        else:
            limit = math.inf if state.config.ignore_estimates else state.config.max_utilization
            plan = folding.plan_for_rate(tables, state.board, state.clock_mhz, state.config.fps, names, limit)
            state.folding_source = f"cheapest folding for {state.config.fps:,.0f} frames/s"
            if state.config.ignore_estimates:
                state.folding_source += " (FINN's resource estimates not applied: check with `bnn2hw synth`)"
    except folding.FoldingError as err:
        raise BuildCheckFailed(str(err)) from None
    state.plan = plan
    return folding.apply_plan(model, plan)


def with_runtime_weights(model):
    """Every MVAU's weights become writable at run time over AXI-lite (posterior ensembles on the
    board: the deploy driver loads one sample after the other); memory stays internal_decoupled."""
    from qonnx.custom_op.registry import getCustomOp
    for node in model.graph.node:
        if node.op_type.startswith("MVAU"):
            getCustomOp(node).set_nodeattr("runtime_writeable_weights", 1)
    return model


def _apply_user_folding(model, state: BuildState):
    import json

    from finn.transformation.general import ApplyConfig

    from bnn2hw.hw.folding import illegal_foldings
    path = Path(state.config.folding)
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise HwError(f"cannot read folding file {path}: {err}") from None
    unknown = sorted(set(config) - {"Defaults"} - {n.name for n in model.graph.node})
    if unknown:
        raise HwError(f"{path}: no layers named {', '.join(unknown)} in the dataflow graph; layers: "
                      + ", ".join(n.name for n in model.graph.node))
    model = model.transform(ApplyConfig(config))
    problems = illegal_foldings(model)
    if problems:
        raise HwError(f"{path}: illegal folding (PE must divide the output channels, SIMD the input "
                      f"channels): {'; '.join(problems)}")
    state.folding_source = f"user folding {path}"
    return model


def run_steps(model, cfg, steps: list[Callable], state: BuildState):
    """Run ``steps`` in order; FINN's output goes to ``finn/build.log``; seconds per step in ``state``."""
    state.finn_dir.mkdir(parents=True, exist_ok=True)
    with _finn_output_to(state.finn_dir / "build.log"):
        for step in steps:
            t0 = time.perf_counter()
            model = step(model, cfg)
            state.seconds[step.__name__] = round(time.perf_counter() - t0, 3)
            state.log_progress(f"  {step.__name__:40s} {state.seconds[step.__name__]:7.2f} s")
    return model


@contextlib.contextmanager
def _finn_output_to(path: Path):
    """stdout, stderr (Python warnings included) and FINN's logger into ``path`` for the block."""
    logger = logging.getLogger("finn_logger")
    with open(path, "a") as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger.addHandler(handler)
        propagate, logger.propagate = logger.propagate, False
        try:
            with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
                yield
        finally:
            logger.removeHandler(handler)
            logger.propagate = propagate
