"""The cppsim rung: every HLS node of a build compiled with FINN's cppsim flow, against ``bnn2hw.sim``.

Contract: ``cppsim_layers(build_dir, streams, deps, cache_dir, log, edit_model)`` reads
``BUILD/hw/dataflow.onnx`` (an ``--impl hls`` build), writes FINN's cppsim C++ for every HLS
node (``PrepareCppSim``) into ``BUILD/cppsim/<node>/`` and compiles it with FINN's own compile
step (``compile_singlenode_code``: g++, no Vitis) against finn-hlslib, the open ap types
(``deps``, found by ``bnn2hw.eda.cppsim_deps.find_deps``) and bnn2hw's shims. Binaries are cached by content hash in
``cache_dir`` (the generated sources with the build path taken out, and every header g++
reads): a second run, or another build with equal layers, compiles nothing. ``streams`` are
``bnn2hw.sim``'s values of every tensor of the partition, (images, ...) per tensor name
(``Accelerator.node_streams``; computed by the caller: this stage imports no simulator). Image
by image, each HLS node runs under FINN's ``execute_node`` (exec mode ``cppsim``) on its input
from ``streams`` and its output is compared with the simulator's (integers,
``np.array_equal``); the whole partition also runs chained (HLS nodes in cppsim, the others in
FINN's Python) from the partition input, and its final output (the labels) is compared with the
simulator's. Writes ``BUILD/cppsim.json``: per node ``op_type``, ``images``,
``mismatched_images``, ``first_mismatches``, ``compile_seconds``, ``cached``; ``images``,
``label_mismatches``, ``passed``, the finn-hlslib directory, its commit and FINN's pin.
``edit_model(model)`` changes the copy compiled for cppsim only (tests plant a fault with it).
A missing g++, a failed compile, or a build without HLS nodes raise
``EdaError`` with a message for the user.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from bnn2hw.eda import cppsim_deps
from bnn2hw.eda.cppsim_deps import CppsimDeps
from bnn2hw.eda.verilator import EdaError, ToolFailed
from bnn2hw.hw.finn_env import FINN_PLUS_VERSION, finn_settings, import_finn

REPORT_FILE = "cppsim.json"
WORK_DIR = "cppsim"
HLS_DOMAIN = "finn.custom_op.fpgadataflow.hls"
SOURCE_SUFFIXES = (".cpp", ".h", ".hpp")
# FINN starts the compiled model with no working directory; the cached binary reads its npy files
# relative to one, so each node's folder gets this launcher in place of the binary.
LAUNCHER = '#!/bin/sh\ncd "$(dirname "$0")" && exec "{exe}"\n'


def hlslib_pin() -> str:
    """The finn-hlslib commit finn-plus pins (``finn/interface/external_dependencies.yaml``)."""
    import finn
    import yaml
    path = Path(finn.__file__).parent / "interface" / "external_dependencies.yaml"
    return yaml.safe_load(path.read_text())["git_deps"]["finn-hlslib"]["commit"]


@contextlib.contextmanager
def _quiet_finn_log():
    """FINN logs g++'s warnings (and its errors, which ``EdaError`` repeats briefly) at length."""
    import logging
    logger = logging.getLogger("finn_logger")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _environment(updates: dict[str, str]):
    """``os.environ`` with ``updates`` for the block: FINN's compile step reads its paths from there."""
    saved = {name: os.environ.get(name) for name in updates}
    os.environ.update(updates)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def relativize_sources(code_gen_dir: Path) -> None:
    """Take the node folder out of the generated C++ (its npy paths), so that the binary is the
    same for equal layers of any build and can be cached; it then runs in that folder."""
    prefix = f'"{code_gen_dir}/'
    for source in code_gen_dir.glob("*.cpp"):
        source.write_text(source.read_text().replace(prefix, '"'))


def source_key(code_gen_dir: Path, fingerprint: str) -> str:
    import finn
    digest = hashlib.sha256(f"finn-plus {FINN_PLUS_VERSION}\0{fingerprint}\0".encode())
    templates = Path(finn.__file__).parent / "templates" / "npy2stream"
    for path in sorted(templates.iterdir()) + sorted(code_gen_dir.iterdir()):
        if path.suffix in SOURCE_SUFFIXES:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def _compile_errors(err: subprocess.CalledProcessError) -> str:
    text = (err.stderr or "") + (err.output or "")
    lines = [line for line in text.splitlines() if "error" in line] or text.splitlines()
    hint = ("\n(this finn-hlslib is older than the commit FINN pins: check that commit out)"
            if "unflatten" in text else "")
    return "\n".join(lines[:12]) + hint


def compile_node(inst, node_dir: Path, key: str, env: dict, cache_dir: Path) -> tuple[float, bool]:
    """FINN's cppsim compile of one node, or the cached binary; -> (seconds, cached)."""
    t0 = time.perf_counter()
    exe = cppsim_deps.cached_binary(key, cache_dir)
    cached = exe is not None
    if not cached:
        with _environment(env), _quiet_finn_log():
            try:
                inst.compile_singlenode_code()
            except subprocess.CalledProcessError as err:
                raise ToolFailed(f"g++ could not compile {inst.onnx_node.name} for cppsim "
                               f"({node_dir}/compile.sh):\n{_compile_errors(err)}") from None
        exe = cppsim_deps.store_binary(key, node_dir / "node_model", cache_dir)
    launcher = node_dir / "node_model"
    launcher.write_text(LAUNCHER.format(exe=exe))
    launcher.chmod(0o755)
    inst.set_nodeattr("executable_path", str(launcher))
    return time.perf_counter() - t0, cached


def run_node(model, node, x: np.ndarray) -> np.ndarray:
    """One node under FINN's ``execute_node`` on one image's input ``x``; -> its output."""
    from qonnx.custom_op.registry import getCustomOp
    inst = getCustomOp(node)
    context = {name: model.get_initializer(name).astype(np.float32) for name in node.input[1:]
               if model.get_initializer(name) is not None}
    context[node.input[0]] = np.asarray(x, dtype=np.float32).reshape(inst.get_normal_input_shape())
    inst.execute_node(context, model.graph)
    return context[node.output[0]]


def prepare_model(build_dir: Path, work: Path, edit_model=None):
    """``BUILD/hw/dataflow.onnx`` with FINN's cppsim C++ written for every HLS node into ``work/<node>``."""
    from finn.transformation.fpgadataflow.prepare_cppsim import PrepareCppSim
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from bnn2hw.hw.finn_env import is_hw_node
    model = ModelWrapper(str(build_dir / "hw" / "dataflow.onnx"))
    if edit_model is not None:
        edit_model(model)
    if not any(node.domain == HLS_DOMAIN for node in model.graph.node):
        raise EdaError(f"{build_dir}/hw/dataflow.onnx has no HLS nodes: --cppsim checks `--impl hls` builds "
                       "(RTL builds: `simulate --rtl-layers`)")
    for node in model.graph.node:
        if not is_hw_node(node):
            raise EdaError(f"{build_dir}/hw/dataflow.onnx: {node.name} ({node.op_type}) is not a FINN HW layer")
        inst = getCustomOp(node)
        inst.set_nodeattr("exec_mode", "cppsim")  # non-HLS nodes: FINN's Python execution
        if node.domain == HLS_DOMAIN:
            node_dir = work / node.name
            shutil.rmtree(node_dir, ignore_errors=True)
            node_dir.mkdir(parents=True)
            inst.set_nodeattr("code_gen_dir_cppsim", str(node_dir))
    return model.transform(PrepareCppSim())


def compare_node(model, node, streams: dict) -> dict:
    """The node in cppsim on each image's input from the simulator; mismatched images vs the simulator."""
    inputs, expected = streams[node.input[0]], streams[node.output[0]]
    bad = [i for i in range(len(inputs))
           if not np.array_equal(np.rint(run_node(model, node, inputs[i])).astype(np.int64).reshape(-1),
                                 expected[i].astype(np.int64).reshape(-1))]
    return {"images": int(len(inputs)), "mismatched_images": len(bad), "first_mismatches": bad[:10]}


def chained_outputs(model, x: np.ndarray) -> np.ndarray:
    """The partition on one image's partition input: HLS nodes in cppsim, the others in FINN's Python."""
    tensors = {model.graph.input[0].name: x}
    for node in model.graph.node:
        tensors[node.output[0]] = run_node(model, node, tensors[node.input[0]])
    return np.rint(tensors[model.graph.output[0].name]).astype(np.int64).reshape(-1)


def _hlslib_link(work: Path, deps: CppsimDeps) -> Path:
    """A FINN_DEPS folder for FINN's compile line: ``finn-hlslib`` -> the checkout in use."""
    folder = work / "deps"
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "finn-hlslib"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(deps.hlslib, target_is_directory=True)
    return folder


def cppsim_layers(build_dir: Path, streams: dict[str, np.ndarray], deps: CppsimDeps,
                  cache_dir: Path = cppsim_deps.CACHE_DIR, log=print, edit_model=None) -> dict:
    build_dir = Path(build_dir).resolve()
    fingerprint, stand_in = cppsim_deps.deps_fingerprint(deps), cppsim_deps.vitis_stand_in(cache_dir)
    work = build_dir / WORK_DIR
    import_finn()
    import finn
    from qonnx.custom_op.registry import getCustomOp
    env = cppsim_deps.compile_environment(deps, stand_in, Path(finn.__file__).parent / "custom_hls")
    nodes = {}
    with finn_settings(work / "finn") as settings:
        settings.finn_deps = str(_hlslib_link(work, deps))
        model = prepare_model(build_dir, work, edit_model)
        for node in [n for n in model.graph.node if n.domain == HLS_DOMAIN]:
            node_dir = work / node.name
            relativize_sources(node_dir)
            log(f"  cppsim: {node.name} ({node.op_type}) ...")
            seconds, cached = compile_node(getCustomOp(node), node_dir, source_key(node_dir, fingerprint), env,
                                           cache_dir)
            nodes[node.name] = {"op_type": node.op_type, **compare_node(model, node, streams),
                                "compile_seconds": round(seconds, 2), "cached": cached}
            log(f"    {nodes[node.name]['images']} images, {nodes[node.name]['mismatched_images']} mismatched, "
                f"{'cached' if cached else 'compiled'} in {seconds:.1f} s")
        partition_in, expected = streams[model.graph.input[0].name], streams[model.graph.output[0].name]
        bad_labels = [i for i in range(len(partition_in)) if not np.array_equal(
            chained_outputs(model, partition_in[i]), expected[i].astype(np.int64).reshape(-1))]
    report = {"images": int(len(partition_in)), "nodes": nodes, "label_mismatches": len(bad_labels),
              "first_label_mismatches": bad_labels[:10],
              "passed": not bad_labels and all(r["mismatched_images"] == 0 for r in nodes.values()),
              "hlslib": str(deps.hlslib), "hlslib_commit": deps.hlslib_commit(), "hlslib_pinned": hlslib_pin(),
              "ap_types": str(deps.ap_types)}
    (build_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return report
