"""The stitched ``accelerator`` in Verilator: FIFO sizing at build time, whole-network runs after.

Contract:
* ``write_accelerator(hw_dir, log)`` (``bnn2hw build --impl rtl``, after ``hw/rtl/`` is
  exported) sizes every FIFO of the stitched top by simulation, as FINN does in Vivado: a
  design with deep FIFOs that print their peak occupancy (``bnn2hw.eda.stitch``) streams
  ``SIZING_FRAMES`` frames of random input offered at the bottleneck's rate (one frame per
  ``max(expected cycles)``), and each FIFO gets ``max(2, peak + 1)`` words. It writes
  ``rtl/accelerator.sv``, adds it (and the FIFO / width-converter modules) to ``files.f``, and
  records ``fifo_depths``, ``frame_words`` (words per frame on each edge: into node i, the last
  out of the last node) and the AXI-lite map in ``manifest.json``; returns the depths.
  Without Verilator the depths are the conservative ``words per frame + 2`` of each edge and
  ``fifo_sizing`` says so.
* ``run_stitched(build_dir, images, stall, seed, ensemble, log, true_labels)`` (``bnn2hw simulate
  --rtl``) streams the raw uint8 ``images`` back to back through the stitched top (random
  input-valid / output-ready stalls of probability ``stall``), compares its output words with
  ``bnn2hw.sim``'s, word for word, decodes them (``output_values``) and checks them against
  ``model.onnx``, and writes ``BUILD/rtlsim.json``: ``images``, ``output`` (``labels``, or
  ``scores`` for a ``--output scores`` build: the last MVAU's accumulators, its label their first
  maximum, ``bnn2hw.sim.accelerator.top1``), ``label_mismatches`` (images with any output word
  unlike bnn2hw.sim's), ``reference_label_mismatches`` (labels vs model.onnx), for scores
  ``reference_score_mismatches`` (integer score values vs model.onnx's, 2p − MW for an XNOR
  layer; None where model.onnx's scores are floats), ``accuracy`` (against ``true_labels``),
  ``cycles_per_frame`` (measured, steady state), ``expected_cycles_per_frame`` (the bottleneck
  node's), ``latency_cycles`` (first image: first input word offered to its last output word),
  ``fifo_depths``, ``sim_images_per_s``, ``build_seconds`` and ``passed`` (function ``passed``). With
  ``ensemble=K`` posterior sample k's weights (``BUILD/samples/<k>``) are written over AXI-lite
  before pass k, as the board driver does, and each pass's words are compared with sample k's
  simulation (``ensemble.samples``); for a scores build ``ensemble`` also holds the members'
  averaged softmax(``output_scale`` · scores) (the scale of ``bnn2hw simulate``,
  ``bnn2hw.sim.api.output_scale_for``) from the RTL's scores against the same average of the
  simulator's: ``probabilities_max_abs_difference`` (0 when the integers agree),
  ``label_mismatches_with_sim_ensemble``, and with ``true_labels`` the ensemble's ``accuracy``,
  ``nll``, ``ece``, ``entropy``.
* ``one_pass(design, exe, hw_dir, images, stall, seed)`` is one such run under ``hw_dir``'s
  weights: ``labels``, ``rtl`` (a scores build's decoded ``RunOutput``; None for LabelSelect),
  ``sim`` (``bnn2hw.sim``'s ``RunOutput``), ``bad`` (per image: a word differs), cycles.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bnn2hw.eda import verilator
from bnn2hw.eda.rtl_layers import (MANIFEST, axi_weight_writes, copy_memories, load_manifest, stream_words,
                                   top_source)
from bnn2hw.eda.stitch import STITCHED_SOURCES, accelerator_sv, axilite_map, fifo_peaks
from bnn2hw.eda.testbench import STITCHED_PORTS, tb_top
from bnn2hw.eda.verilator import EdaError
from bnn2hw.sim.accelerator import Accelerator, top1
from bnn2hw.sim.packing import unpack_words
from bnn2hw.assets import hw_sources_dir

RTL_SOURCE_DIR = hw_sources_dir() / "rtl"
TOP_FILE, REPORT_FILE, SIZING_FRAMES = "accelerator.sv", "rtlsim.json", 4
PROBABILITY_TOLERANCE = 1e-12  # identical integer scores give identical float64 probabilities


class Design:
    """A build's stitched top: manifest, sources, simulator model and the Verilator executable."""

    def __init__(self, hw_dir: Path, manifest: dict, top_text: str):
        self.hw_dir, self.manifest, self.top_text = Path(hw_dir), manifest, top_text
        self.rtl_dir = self.hw_dir / "rtl"
        self.nodes = manifest["nodes"]
        self.first, self.last = self.nodes[0], self.nodes[-1]
        self.axi = axilite_map(self.nodes)

    def executable(self, cache_dir: Path = verilator.CACHE_DIR) -> Path:
        work = Path(tempfile.mkdtemp(prefix="bnn2hw-top-"))
        try:
            (work / TOP_FILE).write_text(self.top_text)
            files = [f for f in self.manifest["files"] if Path(f).name != TOP_FILE]
            files += [f"lib/{name}" for name in STITCHED_SOURCES if f"lib/{name}" not in files]  # sizing run
            sources = [self.rtl_dir / f for f in files]
            shell = tb_top("accelerator", self.top_text, self.first["in_width"], self.last["out_width"],
                           self.axi["address_bits"], STITCHED_PORTS)
            return verilator.build(sources + [work / TOP_FILE], shell, self.first["in_width"], self.last["out_width"],
                                   cache_dir=cache_dir)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def workdir(self, scramble_runtime: bool) -> Path:
        work = Path(tempfile.mkdtemp(prefix="bnn2hw-accelerator-"))
        return copy_memories(self.rtl_dir, self.nodes, work, scramble_runtime)

    def axi_writes(self, accelerator: Accelerator) -> np.ndarray | None:
        if not self.axi["layers"]:
            return None
        kernels = {k.node.name: k for k in accelerator.kernels}
        writes = [axi_weight_writes(kernels[name]) + np.array([base, 0], dtype="<u4")
                  for name, base in self.axi["layers"].items()]
        return np.concatenate(writes)


def _sources_text(rtl_dir: Path, nodes: list[dict]) -> dict:
    return {node["name"]: top_source(rtl_dir, node) for node in nodes}


def _frame_words(accelerator: Accelerator, nodes: list[dict]) -> list[int]:
    """Words per frame on each edge (into node i; the last: out of the last node)."""
    counts = [int(np.prod(k.input_shape())) // node["in_elems"] for k, node in zip(accelerator.kernels, nodes)]
    streams = accelerator.run_stream(np.zeros((1,) + accelerator.kernels[0].input_shape(), np.int64))
    out = streams[accelerator.kernels[-1].node.outputs[0]]
    return counts + [int(out.size) // nodes[-1]["out_elems"]]


def write_accelerator(hw_dir: Path, log=print) -> list[int]:
    hw_dir = Path(hw_dir)
    manifest = json.loads((hw_dir / MANIFEST.relative_to("hw")).read_text())
    rtl_dir, nodes = hw_dir / "rtl", manifest["nodes"]
    for name in STITCHED_SOURCES:
        shutil.copyfile(RTL_SOURCE_DIR / name, rtl_dir / "lib" / name)
    accelerator = Accelerator.load(hw_dir)
    words = _frame_words(accelerator, nodes)
    texts = _sources_text(rtl_dir, nodes)
    sampler = attach_sampler(hw_dir, manifest, accelerator)
    stitch = {"sampler": sampler, "frame_words": words[0]} if sampler else {}
    try:
        depths, how = _sized_depths(hw_dir, manifest, accelerator, words, texts, stitch), "simulation"
    except EdaError as err:
        if "not found" not in str(err):
            raise
        depths, how = [w + 2 for w in words], "conservative (words per frame + 2): Verilator not installed"
    (rtl_dir / TOP_FILE).write_text(accelerator_sv(nodes, depths, texts, **stitch))
    files = [f for f in manifest["files"] if f != TOP_FILE]
    files += [f"lib/{n}" for n in STITCHED_SOURCES if f"lib/{n}" not in files] + [TOP_FILE]
    manifest.update(files=files, top="accelerator", fifo_depths=depths, fifo_sizing=how, frame_words=words,
                    axilite=axilite_map(nodes),
                    sampler={"bits": sampler["bits"], "frame_words": words[0]} if sampler else None)
    (rtl_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (rtl_dir / "files.f").write_text("\n".join(files) + "\n")
    log(f"  stitched accelerator: FIFO depths {depths} ({how})")
    return depths


def attach_sampler(hw_dir: Path, manifest: dict, accelerator: Accelerator) -> dict | None:
    """A build compiled with ``--posterior-bits``: its probability memories (``bnn2hw.sim.posterior``)
    beside each sampled MVAU's weights in ``rtl/<node>/`` (``manifest`` nodes' ``data``); returns
    ``hw/posterior/manifest.json``'s content, None without a posterior. Convolutions are refused: the
    RTL sampler restarts its LFSRs per vector pass, not per pixel."""
    from bnn2hw.sim.kernels.mvau import MVAU
    from bnn2hw.sim.posterior import POSTERIOR_HW_DIR, write_probability_memories
    from bnn2hw.sim.datatypes import SimError
    try:
        posterior = write_probability_memories(Path(hw_dir).parent)
    except SimError as err:
        raise EdaError(f"cannot lay out the posterior for the sampler: {err}") from None
    if posterior is None:
        return None
    kernels = {k.node.name: k for k in accelerator.kernels if isinstance(k, MVAU)}
    if any(int(np.prod(kernels[layer["node"]].input_shape()[:-1])) != 1 for layer in posterior["layers"]):
        raise EdaError("--posterior-bits with convolutions: not in the RTL sampler yet")
    nodes = {node["name"]: node for node in manifest["nodes"]}
    for layer in posterior["layers"]:
        rel = f"{layer['node']}/{layer['file']}"
        shutil.copyfile(Path(hw_dir) / POSTERIOR_HW_DIR / layer["file"], Path(hw_dir) / "rtl" / rel)
        if rel not in nodes[layer["node"]]["data"]:
            nodes[layer["node"]]["data"].append(rel)
    return posterior


def _sized_depths(hw_dir: Path, manifest: dict, accelerator: Accelerator, words: list[int], texts: dict,
                  stitch: dict) -> list[int]:
    verilator.verilator_binary()
    nodes = manifest["nodes"]
    deep = [w + 2 for w in words]
    design = Design(hw_dir, {**manifest, "files": manifest["files"]}, accelerator_sv(nodes, deep, texts, True, **stitch))
    exe = design.executable()
    first = accelerator.kernels[0]
    rng = np.random.default_rng(0)
    dtype = first.input_type
    values = rng.integers(max(dtype.min, 0) if dtype.bits > 1 else 0, (dtype.max if dtype.bits > 1 else 1) + 1,
                          (SIZING_FRAMES,) + first.input_shape())
    words_in = stream_words(values, dtype, first.in_word_elems(), nodes[0]["in_width"])
    bottleneck = max(k.exp_cycles() for k in accelerator.kernels)
    work = design.workdir(scramble_runtime=False)
    try:
        result = verilator.run(exe, words_in.reshape(-1, words_in.shape[-1]), SIZING_FRAMES * words[-1],
                               nodes[-1]["out_width"], work, pace=(words[0], bottleneck))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [max(2, peak + 1) for peak in fifo_peaks(result.stdout, len(words))]


def load_design(build_dir: Path) -> Design:
    hw_dir = Path(build_dir) / "hw"
    manifest = load_manifest(build_dir)
    top = hw_dir / "rtl" / TOP_FILE
    if not top.is_file():
        raise EdaError(f"{top}: no stitched accelerator; rebuild with `bnn2hw build {build_dir} --impl rtl`")
    return Design(hw_dir, manifest, top.read_text())


def output_values(words: np.ndarray, kernel, n: int) -> np.ndarray:
    """The stitched top's output words ((n · words per image, chunks) uint32) -> (n, values) int64,
    decoded as ``bnn2hw.sim`` packs the last node's output (element 0 least significant)."""
    if len(words) and words.shape[-1] % 2:
        words = np.concatenate([words, np.zeros((len(words), 1), words.dtype)], axis=1)
    limbs = np.ascontiguousarray(words, dtype="<u4").view("<u8")
    dtype = kernel.output_type
    patterns = unpack_words(limbs, dtype.bits, kernel.out_word_elems())
    return (patterns if dtype.bits == 1 else dtype.from_bits(patterns)).reshape(n, -1)


def one_pass(design: Design, exe: Path, hw_dir: Path, images: np.ndarray, stall: float, seed: int) -> dict:
    """One run of ``images`` under the weights of ``hw_dir``: the RTL's outputs decoded (``rtl``: a
    ``RunOutput``; ``None`` for the labels of a LabelSelect build: ``labels`` only), the
    simulator's (``sim``), per-image word mismatches (``bad``) and cycles."""
    accelerator = Accelerator.load(hw_dir)
    streams = accelerator.node_streams(images)
    first, last = accelerator.kernels[0], accelerator.kernels[-1]
    words_in = stream_words(streams[first.node.inputs[0]], first.input_type, first.in_word_elems(),
                            design.first["in_width"])
    expected = stream_words(streams[last.node.outputs[0]], last.output_type, last.out_word_elems(),
                            design.last["out_width"])
    n, per_image = expected.shape[:2]
    writes = design.axi_writes(accelerator)
    work = design.workdir(scramble_runtime=writes is not None)
    t0 = time.perf_counter()
    try:
        got = verilator.run(exe, words_in.reshape(-1, words_in.shape[-1]), n * per_image, design.last["out_width"],
                            work, stall=stall, seed=seed, axi_writes=writes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - t0
    words = got.words.reshape(expected.shape)
    frame_ends = got.cycles.reshape(n, per_image)[:, -1].astype(np.int64)
    values = output_values(got.words, last, n)
    rtl = accelerator.scores_output(values) if accelerator.label_select is None else None
    return {"labels": values[:, 0] if rtl is None else rtl.labels[:, 0], "rtl": rtl,
            "sim": accelerator.outputs(streams, n), "bad": (words != expected).any(axis=(1, 2)),
            "frame_ends": frame_ends, "seconds": seconds,
            "expected": max(k.exp_cycles() for k in accelerator.kernels)}


def _reference_checks(build_dir: Path, result: dict, images: np.ndarray) -> dict:
    """The RTL's labels, and a scores build's integer scores, against ``model.onnx`` (qonnx or numpy)."""
    from bnn2hw.sim.compare import compare, reference_outputs
    ref_labels, ref_scores = reference_outputs(build_dir / "model.onnx", images)
    out = {"output": "labels" if result["rtl"] is None else "scores",
           "reference_label_mismatches": int((result["labels"] != ref_labels).sum())}
    if result["rtl"] is not None:
        checked = compare(result["labels"], result["rtl"].scores, ref_labels, ref_scores)
        out["reference_score_mismatches"] = checked["score_mismatches"] if checked["scores_compared"] else None
    return out


def run_stitched(build_dir: Path, images: np.ndarray, stall: float = 0.0, seed: int = 0, ensemble: int | None = None,
                 log=print, true_labels: np.ndarray | None = None) -> dict:
    build_dir = Path(build_dir)
    design = load_design(build_dir)
    t0 = time.perf_counter()
    exe = design.executable()
    built = time.perf_counter() - t0
    log(f"  verilator: stitched accelerator ({len(design.nodes)} layers) built in {built:.1f} s")
    result = one_pass(design, exe, build_dir / "hw", images, stall, seed)
    ends = result["frame_ends"]
    report = {"images": int(len(images)), "stall": stall, "seed": seed,
              "label_mismatches": int(result["bad"].sum()),
              "first_mismatches": np.flatnonzero(result["bad"])[:10].tolist(),
              **_reference_checks(build_dir, result, images),
              "accuracy": None if true_labels is None else round(float((result["labels"] == true_labels).mean()), 4),
              "cycles_per_frame": round(float(np.diff(ends).mean()), 2) if len(ends) > 1 else float(ends[0]),
              "expected_cycles_per_frame": int(result["expected"]), "latency_cycles": int(ends[0]),
              "fifo_depths": design.manifest.get("fifo_depths"), "fifo_sizing": design.manifest.get("fifo_sizing"),
              "sim_images_per_s": round(len(images) / max(result["seconds"], 1e-9), 1), "build_seconds": round(built, 2)}
    if ensemble and design.manifest.get("sampler"):
        report["onchip_ensemble"] = _onchip_passes(design, exe, build_dir, images, ensemble, stall, seed,
                                                   true_labels, result)
    elif ensemble:
        report["ensemble"] = _ensemble_passes(design, exe, build_dir, images, ensemble, stall, seed, true_labels)
    report["passed"] = passed(report)
    (build_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return report


def passed(report: dict) -> bool:
    """No word differs from bnn2hw.sim, no label or integer score from model.onnx, in any pass, and
    a scores ensemble's averaged probabilities equal the simulator's."""
    ensemble = report.get("ensemble", {})
    return (report["label_mismatches"] == 0 and report["reference_label_mismatches"] == 0
            and not report.get("reference_score_mismatches")
            and all(p["label_mismatches"] == 0 for p in ensemble.get("samples", []))
            and report.get("onchip_ensemble", {}).get("mismatched_passes", 0) == 0
            and ensemble.get("probabilities_max_abs_difference", 0.0) <= PROBABILITY_TOLERANCE)


def _onchip_passes(design: Design, exe: Path, build_dir: Path, images: np.ndarray, k: int, stall: float,
                   seed: int, true_labels: np.ndarray | None, mode: dict) -> dict:
    """The on-chip ensemble: the stitched top with ``ens_passes`` = K replays every image K times with
    fresh weight samples; each pass's scores against ``bnn2hw.sim.posterior.onchip_members``."""
    from bnn2hw.sim.api import output_scale_for
    from bnn2hw.sim.ensemble import ensemble_metrics
    from bnn2hw.sim.posterior import onchip_members
    if mode["rtl"] is None:
        raise EdaError("--ensemble on a build with a sampler needs --output scores (the host averages scores)")
    accelerator = Accelerator.load(design.hw_dir)
    first, last = accelerator.kernels[0], accelerator.kernels[-1]
    streams = accelerator.node_streams(images)
    words_in = stream_words(streams[first.node.inputs[0]], first.input_type, first.in_word_elems(),
                            design.first["in_width"])
    n = len(images)
    per_image = int(np.prod(streams[last.node.outputs[0]].shape[1:])) // last.out_word_elems()
    work = design.workdir(scramble_runtime=False)
    try:
        got = verilator.run(exe, words_in.reshape(-1, words_in.shape[-1]), n * k * per_image,
                            design.last["out_width"], work, stall=stall, seed=seed, plusargs=(f"+ens_passes={k}",))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    raw = accelerator.scores_output(output_values(got.words, last, n * k)).scores.reshape(n, k, -1)
    expected = onchip_members(design.hw_dir.parent, images, k)
    bad = np.stack([(raw[:, j] != expected[j]).any(axis=1) for j in range(k)], axis=1)   # (n, k)
    ends = got.cycles.reshape(n, k * per_image)[:, -1].astype(np.int64)
    report = {"samples": k, "mismatched_passes": int(bad.sum()), "passes_compared": int(bad.size),
              "mismatched_pass_indices": sorted({int(j) for j in np.nonzero(bad)[1]}),
              "cycles_per_image": round(float(np.diff(ends).mean()), 2) if n > 1 else float(ends[0])}
    if true_labels is not None:
        scale, _source = output_scale_for(build_dir)
        members = [raw[:, j] for j in range(k)]
        ens = ensemble_metrics(members, true_labels, scale, mode["rtl"].scores)
        mode_metrics = ensemble_metrics([mode["rtl"].scores], true_labels, scale)
        report.update({"nll": round(ens["nll"], 6), "mode_nll": round(mode_metrics["nll"], 6),
                       "ece": round(ens["ece"], 6), "accuracy": round(ens["accuracy"], 4),
                       "mode_accuracy": round(mode_metrics["accuracy"], 4), "output_scale": scale})
    return report


def _ensemble_passes(design: Design, exe: Path, build_dir: Path, images, k: int, stall: float, seed: int,
                     true_labels: np.ndarray | None = None) -> dict:
    if not design.axi["layers"]:
        raise EdaError("--ensemble needs runtime-writable weights: build with --runtime-weights --impl rtl")
    samples, passes = [], []
    for index in range(k):
        hw_dir = build_dir / "samples" / str(index) / "hw"
        if not (hw_dir / "dataflow.onnx").is_file():
            raise EdaError(f"{hw_dir}: posterior sample {index} not built; compile with --samples {k} and rebuild")
        result = one_pass(design, exe, hw_dir, images, stall, seed + index)
        samples.append({"sample": index, "label_mismatches": int(result["bad"].sum())})
        passes.append(result)
    votes = np.stack([p["labels"] for p in passes])
    report = {"members": k, "samples": samples, "vote_agreement": round(float((votes == votes[0]).mean()), 4)}
    if passes[0]["rtl"] is not None:
        report.update(_averaged_probabilities(build_dir, passes, true_labels))
    return report


def _averaged_probabilities(build_dir: Path, passes: list, true_labels: np.ndarray | None) -> dict:
    """A scores ensemble: the members' softmax(output_scale · score) averaged, from the RTL's scores and
    from ``bnn2hw.sim``'s (what ``bnn2hw simulate --ensemble`` and the driver's ``--ensemble`` average)."""
    from bnn2hw.sim.api import output_scale_for
    from bnn2hw.sim.ensemble import average_probabilities, ensemble_metrics
    scale, source = output_scale_for(build_dir)
    rtl = average_probabilities([p["rtl"].scores for p in passes], scale)
    sim = average_probabilities([p["sim"].scores for p in passes], scale)
    out = {"output_scale": scale, "output_scale_source": source,
           "probabilities_max_abs_difference": float(np.abs(rtl - sim).max(initial=0.0)),
           "label_mismatches_with_sim_ensemble": int((top1(rtl) != top1(sim)).sum())}
    if true_labels is not None:
        metrics = ensemble_metrics([p["rtl"].scores for p in passes], true_labels, scale)
        out.update({key: round(metrics[key], 6) for key in ("accuracy", "nll", "ece", "entropy")})
    return out
