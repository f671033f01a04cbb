"""The Verilator rung, layer by layer: every RTL node of a build against ``bnn2hw.sim``'s streams.

Contract: ``rtl_layers(build_dir, images, stall, seed, log)`` reads ``BUILD/hw/rtl/manifest.json``
(written by ``bnn2hw build --impl rtl``) and ``BUILD/hw/dataflow.onnx``, runs ``bnn2hw.sim`` on
the raw uint8 ``images`` to get every node's input and output values, packs them into the
node's AXI-stream words (FINN's packing, ``bnn2hw.sim.packing``; widths padded to bytes),
builds the node with Verilator (cached, ``bnn2hw.eda.verilator``), streams all images back to
back with random valid/ready stalls of probability ``stall`` and compares the output words with
the simulator's, image by image. A node with runtime-writable weights starts from a scrambled
weight memory and gets its weights over AXI-lite first (FINN's memstream address map, from the
simulator's weight lines), so the AXI-lite path is checked too. Writes ``BUILD/rtl_layers.json``:
per node ``op_type``, ``images``, ``mismatched_images`` (count), ``first_mismatches`` (indices),
``cycles_per_frame`` (measured, steady state: mean spacing of the last output word of
consecutive images), ``expected_cycles`` (the kernel's), ``build_seconds``, ``sim_seconds``;
and ``passed``. Raises ``EdaError`` for a missing tool or manifest, a failed build or a deadlock.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bnn2hw.eda import verilator
from bnn2hw.eda.testbench import tb_top
from bnn2hw.eda.verilator import EdaError
from bnn2hw.sim.accelerator import Accelerator
from bnn2hw.sim.packing import pack_words
from bnn2hw.weight_memory import words_per_line

MANIFEST = Path("hw") / "rtl" / "manifest.json"
REPORT_FILE = "rtl_layers.json"


def load_manifest(build_dir: Path) -> dict:
    path = Path(build_dir) / MANIFEST
    if not path.is_file():
        raise EdaError(f"{path}: no RTL manifest; build with `bnn2hw build {build_dir} --impl rtl`")
    return json.loads(path.read_text())


def stream_words(values: np.ndarray, dtype, elems: int, width: int) -> np.ndarray:
    """Values (N, ...) -> AXI-stream words (N, words, chunks) uint32, FINN's packing."""
    n = values.shape[0]
    flat = values.reshape(n, -1, elems)
    limbs = pack_words(dtype.to_bits(flat), dtype.bits)                       # (N, words, limbs) uint64
    as_u32 = np.ascontiguousarray(limbs, dtype="<u8").view("<u4")
    need = verilator.chunks(width)
    if as_u32.shape[-1] < need:
        as_u32 = np.concatenate([as_u32, np.zeros(as_u32.shape[:-1] + (need - as_u32.shape[-1],), "<u4")], -1)
    return np.ascontiguousarray(as_u32[..., :need])


def axi_weight_writes(kernel) -> np.ndarray:
    """(address, data) pairs that load the MVAU kernel's weight lines over AXI-lite."""
    patterns = kernel.weight_lines[:, ::-1]                                    # element i of a line at column i
    wp = kernel.weight_type.bits
    bits = ((patterns[..., None] >> np.arange(wp)) & 1).astype(np.uint8).reshape(len(patterns), -1)
    width = bits.shape[1]
    words = words_per_line(width)
    padded = np.zeros((len(bits), words * 32), np.uint8)
    padded[:, :width] = bits
    data = np.packbits(padded.reshape(len(bits), words, 32), axis=-1, bitorder="little").view("<u4")[..., 0]
    addresses = (np.arange(len(bits) * words, dtype=np.uint64) * 4).astype("<u4")
    return np.stack([addresses, data.reshape(-1).astype("<u4")], axis=1)


def copy_memories(rtl_dir: Path, nodes: list[dict], work: Path, scramble_runtime: bool) -> Path:
    """The nodes' memory images into ``work`` (``$readmemh`` reads them there). With ``scramble_runtime``
    a runtime-writable weight memory starts scrambled: only the AXI-lite writes can restore it."""
    for node in nodes:
        for rel in node["data"]:
            target = work / Path(rel).name
            shutil.copyfile(rtl_dir / rel, target)
            if scramble_runtime and node["axilite_width"] and target.name.endswith("_weights.dat"):
                target.write_text("\n".join("5" * len(line) for line in target.read_text().split()) + "\n")
    return work


def top_source(rtl_dir: Path, node: dict) -> str:
    """Text of the source file that declares the node's top module."""
    for rel in node["sources"]:
        text = (rtl_dir / rel).read_text()
        if re.search(rf"^\s*module\s+{node['top']}\b", text, re.M):
            return text
    raise EdaError(f"{node['name']}: top module {node['top']} not among its sources")


def check_node(rtl_dir: Path, node: dict, kernel, streams: dict, stall: float, seed: int,
               cache_dir: Path = verilator.CACHE_DIR) -> dict:
    sources = [rtl_dir / s for s in node["sources"]]
    text = top_source(rtl_dir, node)
    t0 = time.perf_counter()
    try:
        shell = tb_top(node["top"], text, node["in_width"], node["out_width"], node["axilite_width"])
    except ValueError as err:
        raise EdaError(f"{node['name']} ({node['op_type']}): {err}") from None
    exe = verilator.build(sources, shell, node["in_width"], node["out_width"], cache_dir=cache_dir)
    built = time.perf_counter() - t0
    words_in = stream_words(streams[kernel.node.inputs[0]], kernel.input_type, kernel.in_word_elems(), node["in_width"])
    expected = stream_words(streams[kernel.node.outputs[0]], kernel.output_type, kernel.out_word_elems(),
                            node["out_width"])
    n, per_image = expected.shape[:2]
    writes = axi_weight_writes(kernel) if node["axilite_width"] else None
    work = copy_memories(rtl_dir, [node], Path(tempfile.mkdtemp(prefix=f"bnn2hw-{node['name']}-")),
                         scramble_runtime=writes is not None)
    try:
        got, cycles, _ = verilator.run(exe, words_in.reshape(-1, words_in.shape[-1]), n * per_image, node["out_width"],
                                    work, stall=stall, seed=seed, axi_writes=writes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bad = np.flatnonzero((got.reshape(expected.shape) != expected).any(axis=(1, 2)))
    frame_ends = cycles.reshape(n, per_image)[:, -1].astype(np.int64)
    measured = float(np.diff(frame_ends).mean()) if n > 1 else float(frame_ends[0])
    return {"op_type": node["op_type"], "images": int(n), "mismatched_images": int(bad.size),
            "first_mismatches": bad[:10].tolist(), "cycles_per_frame": round(measured, 2),
            "expected_cycles": int(kernel.exp_cycles()), "build_seconds": round(built, 2),
            "sim_seconds": round(time.perf_counter() - t0 - built, 2)}


def rtl_layers(build_dir: Path, images: np.ndarray, stall: float = 0.0, seed: int = 0, log=print,
               cache_dir: Path = verilator.CACHE_DIR) -> dict:
    build_dir = Path(build_dir)
    manifest = load_manifest(build_dir)
    verilator.verilator_binary()
    accelerator = Accelerator.load(build_dir / "hw")
    kernels = {k.node.name: k for k in accelerator.kernels}
    streams = accelerator.node_streams(images)
    rtl_dir = build_dir / MANIFEST.parent
    nodes = {}
    for node in manifest["nodes"]:
        if node["name"] not in kernels:
            raise EdaError(f"{node['name']}: in the RTL manifest but not in {build_dir}/hw/dataflow.onnx; rebuild")
        log(f"  verilator: {node['name']} ({node['op_type']}) ...")
        nodes[node["name"]] = result = check_node(rtl_dir, node, kernels[node["name"]], streams, stall, seed,
                                                       cache_dir)
        log(f"    {result['images']} images, {result['mismatched_images']} mismatched, "
            f"{result['cycles_per_frame']:g} cycles/frame (expected {result['expected_cycles']}), "
            f"build {result['build_seconds']:.1f} s, sim {result['sim_seconds']:.1f} s")
    report = {"images": int(len(images)), "stall": stall, "seed": seed, "nodes": nodes,
              "passed": all(r["mismatched_images"] == 0 for r in nodes.values())}
    (build_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return report
