"""``build``: ``BUILD/model.onnx`` -> a FINN dataflow accelerator for a board, in ``BUILD/hw/``.

Contract: ``build(build_dir, board, fps=None, clock_mhz=None, folding=None, **options)`` (the
``bnn2hw build`` command; ``build_hw(build_dir, BuildConfig)`` underneath) lowers the w1a1
QONNX graph through FINN (see ``bnn2hw.hw.steps``), folds it for ``fps`` frames/s at the
clock (or applies ``folding``, a FINN folding JSON; with neither, the highest rate that fits
the board), and writes to a fresh ``BUILD/hw/`` (the previous one is moved aside and put back
if the build fails or is refused, so a failed build leaves the last good one intact;
``bnn2hw.output_dir.restore_on_failure``): ``dataflow.onnx`` (specialised,
folded HW layers only), ``dataflow_parent.onnx`` (the software layout ops at its edges around
the partition), ``hw_layers.onnx``, ``folding.json`` (FINN format), ``estimates.json``,
``verify.json`` (FINN Python execution of the HW-layer graph vs ``model.onnx``: must be 0
label mismatches), ``report.md`` + ``layers.png``, ``codegen/`` (HLS C++, RTL and Tcl from
PrepareIP), ``finn/`` (FINN's reports and log). With Vivado and Vitis HLS it goes on to the
bitfile (``bitfile/finn-accel.bit`` + ``.hwh``, measured resources in estimates.json);
a build whose compile exported the posterior (``posterior.json``) also gets ``hw/posterior/``: each
MVAU's probability memory in the folded layout and the sampler's lane seeds
(``bnn2hw.sim.posterior.write_probability_memories``);
without them it stops after code generation and says what it produced and what is left.
Returns the summary dict. Raises ``HwError`` (with a message for the user) for an unknown
board, a missing or malformed model (``bnn2hw.hw.model_check``), a folding file FINN refuses, and
``BuildCheckFailed`` (an ``HwError`` and a ``CheckFailed``) for a rate or folding the board cannot
take or a failed check.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bnn2hw.hw import vivado
from bnn2hw.boards import UnknownBoard, load_board
from bnn2hw.hw.config import BuildCheckFailed, BuildConfig, HwError, Impl, Stage
from bnn2hw.hw.finn_env import finn_settings, import_finn, is_hw_node, xilinx_tools
from bnn2hw.hw.model_check import check_build_input
from bnn2hw.hw.open_flow import check_board_impl, ecp5_bitstream
from bnn2hw.hw.steps import HW_LAYERS_FILE, BuildState, finn_config, flow_steps, run_steps
from bnn2hw.jsonfile import read_json, read_json_if_present
from bnn2hw.output_dir import restore_on_failure

HW_DIR, DATAFLOW_FILE, FOLDING_FILE = "hw", "dataflow.onnx", "folding.json"
ESTIMATES_FILE, VERIFY_FILE, CODEGEN_DIR = "estimates.json", "verify.json", "codegen"
FOLDING_JSON_ATTRS = ["PE", "SIMD", "parallel_window", "ram_style", "ram_style_thresholds", "resType",
                      "mem_mode", "runtime_writeable_weights"]
FIFO_ATTRS = ["inFIFODepths", "outFIFODepths"]  # --impl rtl: sized by simulating the stitched top


def build(build_dir, board: str = "pynq-z2", fps: float | None = None, clock_mhz: float | None = None,
          folding: str | None = None, log=print, **options) -> dict:
    """The ``bnn2hw build`` command; ``options`` are the other ``BuildConfig`` fields."""
    try:
        config = BuildConfig(board=board, fps=fps, clock_mhz=clock_mhz,
                             folding=None if folding is None else str(folding), **options)
    except TypeError as err:
        raise HwError(f"bad build option: {err}") from None
    return build_hw(Path(build_dir), config, log)


def _start(build_dir: Path, config: BuildConfig, log) -> tuple[BuildState, Path]:
    try:
        board = load_board(config.board)
    except UnknownBoard as err:
        raise HwError(str(err)) from None
    check_board_impl(board, config)
    if config.clock_mhz is not None and config.clock_mhz > board.max_clock_mhz:
        raise HwError(f"--clock-mhz {config.clock_mhz:g}: above what {board.name}'s {board.part} can be clocked at "
                      f"({board.max_clock_mhz:g} MHz, its family's clock network); give the clock in MHz")
    model_path = Path(config.model) if config.model else build_dir / "model.onnx"
    check_build_input(model_path)
    if config.folding is not None:
        if not Path(config.folding).is_file():
            raise HwError(f"{config.folding}: no such folding file")
        read_json(config.folding, HwError)  # a FINN folding file is a JSON object of layer names
    hw_dir = build_dir / HW_DIR
    state = BuildState(config=config, board=board, clock_mhz=config.clock_mhz or board.clock_mhz,
                       hw_dir=hw_dir, log=log)
    return state, model_path


def build_hw(build_dir: Path, config: BuildConfig, log=print) -> dict:
    """Run the build (see module docstring) and return its summary."""
    t0 = time.perf_counter()
    build_dir = Path(build_dir)
    state, model_path = _start(build_dir, config, log)
    with restore_on_failure(state.hw_dir):
        state.hw_dir.mkdir(parents=True)
        return _build_into(build_dir, model_path, state, t0)


def _build_into(build_dir: Path, model_path: Path, state: BuildState, t0: float) -> dict:
    config, log = state.config, state.log
    tools = xilinx_tools()
    stage = config.stop_after
    ecp5_bitstream_wanted = state.board.family == "ecp5" and stage == Stage.BITFILE  # open tools, below
    if stage == Stage.BITFILE and (not tools.complete or state.board.family == "ecp5"):
        stage = Stage.CODEGEN
    log(f"bnn2hw build: {model_path} -> {state.hw_dir} for {state.board.name} ({state.board.part}) "
        f"at {state.clock_mhz:g} MHz")
    import_finn()
    from finn.util.exception import FINNUserError
    from qonnx.core.modelwrapper import ModelWrapper
    with finn_settings(state.hw_dir / CODEGEN_DIR):
        cfg = finn_config(state)
        try:
            model = run_steps(ModelWrapper(str(model_path)), cfg, flow_steps(state, codegen=stage == Stage.CODEGEN),
                              state)
        except FINNUserError as err:
            raise HwError(f"{model_path}: FINN cannot lower this network: {err}") from None
        est = _write_outputs(model, state)
        check = _verify(build_dir, model_path, state)
        _write_posterior(build_dir)
        if ecp5_bitstream_wanted:
            est = ecp5_bitstream(state, est)
            (state.hw_dir / ESTIMATES_FILE).write_text(json.dumps(est, indent=2) + "\n")
            stage = Stage.BITFILE
        elif stage == Stage.BITFILE:
            model = run_steps(model, vivado.configure_for_bitfile(cfg), vivado.vivado_steps(), state)
            model.save(str(state.hw_dir / DATAFLOW_FILE))
            est = _add_measured(est, state)
    return _finish(model, est, check, stage, tools, state, time.perf_counter() - t0)


def _write_posterior(build_dir: Path) -> None:
    """A build compiled with ``--posterior-bits``: its probability memories in the folded layout (hw/posterior/)."""
    from bnn2hw.sim.datatypes import SimError
    from bnn2hw.sim.posterior import write_probability_memories
    try:
        write_probability_memories(build_dir)
    except SimError as err:
        raise HwError(f"{build_dir}: cannot lay out the posterior for the sampler: {err}") from None


def _write_outputs(model, state: BuildState) -> dict:
    from finn.util.config import extract_model_config_to_json

    from bnn2hw.hw.estimates import estimate
    non_hw = [n.op_type for n in model.graph.node if not is_hw_node(n)]
    if non_hw:
        raise HwError(f"FINN left non-HW layers inside the dataflow partition: {', '.join(non_hw)}")
    model.save(str(state.hw_dir / DATAFLOW_FILE))
    attrs = FOLDING_JSON_ATTRS + (FIFO_ATTRS if state.config.impl == Impl.RTL else [])
    extract_model_config_to_json(model, state.hw_dir / FOLDING_FILE, attrs)
    est = estimate(model, state.board, state.clock_mhz, state.config.max_utilization)
    est.update(impl=state.config.impl.value, target_fps=state.config.fps, folding_source=state.folding_source,
               meets_target=None if state.config.fps is None else est["fps"] >= state.config.fps,
               step_seconds=dict(state.seconds))
    (state.hw_dir / ESTIMATES_FILE).write_text(json.dumps(est, indent=2) + "\n")
    if not est["fits"]:
        over = ", ".join(f"{k} {100 * v:.0f}%" for k, v in est["utilization"].items()
                         if v > state.config.max_utilization)
        message = (f"the folding ({state.folding_source}) does not fit {state.board.name} by FINN's estimates: "
                   f"{over} of the board (see {state.hw_dir / ESTIMATES_FILE})")
        if not state.config.ignore_estimates:
            raise BuildCheckFailed(f"{message}; fold more or lower --fps")
        state.log(f"warning: {message}; kept (--ignore-estimates): `bnn2hw synth` measures the real figures")
    return est


def _images(build_dir: Path, qonnx_model, config: BuildConfig):
    from bnn2hw.hw.verify import random_images
    shape = tuple(qonnx_model.get_tensor_shape(qonnx_model.graph.input[0].name))[1:]
    summary = build_dir / "verify.json"
    dataset = read_json_if_present(summary, HwError).get("dataset")
    if dataset:
        from bnn2hw.data import DatasetError, load_dataset
        try:
            images = load_dataset(dataset, config.data_dir).x_test
            if tuple(images.shape[1:]) == shape:
                return images, f"{dataset} test split"
        except (DatasetError, OSError, ValueError):
            pass
    return random_images(shape), "64 seeded random uint8 images (no dataset named in BUILD/verify.json)"


def _verify(build_dir: Path, model_path: Path, state: BuildState) -> dict:
    from qonnx.core.modelwrapper import ModelWrapper

    from bnn2hw.hw.verify import verify_hw
    qonnx_model = ModelWrapper(str(model_path))
    images, source = _images(build_dir, qonnx_model, state.config)
    t0 = time.perf_counter()
    check = verify_hw(ModelWrapper(str(state.hw_dir / HW_LAYERS_FILE)), qonnx_model, images,
                      state.config.verify_limit, source)
    state.seconds["verify_hw"] = round(time.perf_counter() - t0, 3)
    state.log(f"  {'verify_hw':40s} {state.seconds['verify_hw']:7.2f} s  ({check['images']} images, "
              f"{check['label_mismatches']} mismatches)")
    (state.hw_dir / VERIFY_FILE).write_text(json.dumps(check, indent=2) + "\n")
    if check["label_mismatches"]:
        raise BuildCheckFailed(f"FINN's HW-layer graph disagrees with model.onnx on {check['label_mismatches']} of "
                      f"{check['images']} images (first: {check['mismatched_images'][:5]}); see "
                      f"{state.hw_dir / VERIFY_FILE}")
    return check


def _add_measured(est: dict, state: BuildState) -> dict:
    est["bitfile"] = vivado.collect_bitfile(state.finn_dir, state.hw_dir)
    est["measured"] = vivado.measured_resources(state.finn_dir)
    (state.hw_dir / ESTIMATES_FILE).write_text(json.dumps(est, indent=2) + "\n")
    return est


def _sources(model, hw_dir: Path) -> dict[str, str]:
    from qonnx.custom_op.registry import getCustomOp
    out = {}
    for node in model.graph.node:
        path = getCustomOp(node).get_nodeattr("code_gen_dir_ipgen")
        if path:
            out[node.name] = str(Path(path).relative_to(hw_dir.resolve()))
    return out


def _finish(model, est: dict, check: dict, stage: Stage, tools, state: BuildState, seconds: float) -> dict:
    from bnn2hw.hw.report import write_report
    hw_dir = state.hw_dir
    sources = _sources(model, hw_dir) if stage != Stage.ESTIMATES else {}
    produced = [p.name for p in sorted(hw_dir.iterdir()) if p.is_file()] + [
        f"{CODEGEN_DIR}/ ({len(sources)} layers: HLS C++ / RTL / Tcl)"] * bool(sources)
    pending = [] if stage == Stage.BITFILE else vivado.pending_steps(state.config.impl.value)
    write_report(hw_dir, est, check, produced + ["report.md", "layers.png"], pending)
    summary = {**{k: v for k, v in est.items() if k != "layers"}, "stage": stage.value,
               "hw_dir": str(hw_dir), "verify": check, "sources": sources, "pending": pending,
               "build_seconds": round(seconds, 3)}
    if pending and state.config.stop_after == Stage.BITFILE:
        summary["message"] = (f"{' and '.join(tools.missing())} not found (set XILINX_VIVADO / XILINX_HLS or "
                              "put vivado / vitis_hls on PATH): stopped after code generation. Still to do: "
                              + "; ".join(pending))
        state.log(summary["message"])
    state.log(f"{est['fps']:,.0f} frames/s, {est['luts']:,.0f} LUT, {est['brams']:g} BRAM18, "
              f"{est['dsps']:g} DSP on {state.board.name}; {check['label_mismatches']} mismatches on "
              f"{check['images']} images; {seconds:.1f} s")
    return summary
