"""The on-chip posterior ensemble in the simulator: probability memories and K sampled passes.

Contract:
* ``probability_lines(codes, pe, simd, bits)`` — a layer's flip codes P (MVAU orientation
  (MW, MH)) as the probability memory beside its weight memory: the weight memory's own layout
  (``layout.mvau_weight_lines`` with an unsigned B-bit type), WMEM lines of PE·SIMD codes, column
  0 the most significant element, element (pe, s) of line nf·SF + sf at bits
  [(pe·SIMD + s)·B, +B) of the line; ``memory_image(lines, bits)`` is its ``$readmemh`` text (one
  hex line per address, as ``<node>_weights.dat``).
* ``mvau_matrix(array)`` — a ``posterior.npz`` array (model.onnx weight-initializer shape) in the
  MVAU's (MW, MH) orientation: MatMul (in, out) as is; Conv (OFM, IFM, kh, kw) as FINN's
  ``LowerConvsToMatMul`` lays it out ((OFM, kh, kw, IFM) flattened, transposed).
* ``layer_samplers(accelerator, posterior)`` — one ``LayerSampler`` per MVAU kernel in graph
  order, paired with posterior layer i; refused (``SimError``) unless every MVAU has 1-bit
  weights, the counts and shapes agree, and each neuron's weight bits are the posterior mode's
  (or all complemented, where FINN negated a neuron: a flip relative to the stored bit is the
  same sample either way).
* ``onchip_flips(samplers, posterior, passes)`` — per layer (passes, WMEM, E) bool flip
  decisions in element order e = pe·SIMD + s, as ``bnn2hw.sim.sampler`` defines them.
* ``run_passes(accelerator, images, samplers, flips)`` — scores (N, classes) of every pass k:
  every MVAU computes with weight lines ``mode XOR flips[k]`` (element e of a line is column
  E − 1 − e of ``weight_lines``); the mode lines are restored afterwards. Any other flip source
  (e.g. exact Bernoulli samples for a comparison) goes through the same function; ``run(accelerator,
  images)`` (default: ``run_accelerator``'s scores of raw images) is what each pass computes (the
  deploy driver's sim backend: packed streams in, packed streams out).
* ``write_probability_memories(build_dir)`` — for a build with ``posterior.json`` (``bnn2hw build``
  calls it), ``BUILD/hw/posterior/<node>_flipprob.dat`` (``memory_image`` of each MVAU's
  probability lines, beside its weight memory) and ``BUILD/hw/posterior/manifest.json``: ``bits``,
  ``seed`` and per node ``layer``, ``pe``, ``simd``, ``wmem``, ``elements_per_lane`` (G),
  ``lanes`` and ``lane_seeds`` (hex, ``sampler.lane_seeds``) — the constants the RTL sampler
  takes. Returns the manifest; None for a build without a posterior.
* ``onchip_members(build_dir, images, passes)`` — the K = ``passes`` sampled passes' scores
  (list of (N, classes)) of a build with ``posterior.json``: what the RTL sampler must give, pass
  by pass (``bnn2hw simulate --rtl --ensemble``).
* ``onchip_ensemble(build_dir, images, labels, passes, scale, mode_scores)`` — the report of
  ``bnn2hw simulate --ensemble K`` on a build with ``posterior.json``: ``samples``, ``bits``,
  ``seed``, ``accuracy``, ``nll``, ``ece``, ``entropy``, ``disagreement`` (with the mode
  network's labels), ``member_accuracy``, ``flip_share`` (flipped weights per pass, measured)
  and ``expected_flip_share`` (mean P/2^B), ``overflows``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bnn2hw.posterior_memory import Posterior, dequantize, has_posterior, read_posterior
from bnn2hw.sim import layout
from bnn2hw.sim.accelerator import Accelerator
from bnn2hw.sim.datatypes import IntType, SimError
from bnn2hw.sim.ensemble import ensemble_metrics
from bnn2hw.sim.kernels.mvau import MVAU
from bnn2hw.sim.sampler import flip_decisions, lane_seeds, lanes_per_line

POSTERIOR_HW_DIR, MANIFEST_FILE = "posterior", "manifest.json"


def probability_lines(codes: np.ndarray, pe: int, simd: int, bits: int) -> np.ndarray:
    return layout.mvau_weight_lines(np.asarray(codes, dtype=np.int64), pe, simd, IntType(f"UINT{bits}", bits, False))


def memory_image(lines: np.ndarray, bits: int) -> str:
    """(WMEM, E) codes, column 0 most significant -> ``$readmemh`` lines of E·B bits."""
    digits = -(-lines.shape[1] * bits // 4)
    out = []
    for row in lines:
        value = 0
        for code in row:
            value = (value << bits) | int(code)
        out.append(f"{value:0{digits}x}")
    return "\n".join(out) + "\n"


def mvau_matrix(array: np.ndarray) -> np.ndarray:
    if array.ndim == 2:
        return array
    if array.ndim == 4:
        return array.transpose(0, 2, 3, 1).reshape(array.shape[0], -1).T
    raise SimError(f"posterior array of shape {array.shape}: expected a MatMul (2-D) or Conv (4-D) weight")


@dataclass(frozen=True)
class LayerSampler:
    """One MVAU kernel, its posterior layer index, its probability lines (element order) and mode lines."""

    kernel: MVAU
    layer: int
    codes: np.ndarray        # (WMEM, E) uint, element e = pe·SIMD + s
    mode_lines: np.ndarray   # the kernel's weight_lines as built (column 0 = element E − 1)


def _node_bits(kernel: MVAU) -> np.ndarray:
    weights = np.asarray(kernel.node.constant(1)).astype(np.int64)
    return (weights + 1) // 2 if kernel.weight_type.bipolar else weights


def layer_samplers(accelerator: Accelerator, posterior: Posterior) -> list[LayerSampler]:
    kernels = [k for k in accelerator.kernels if isinstance(k, MVAU)]
    if len(kernels) != len(posterior.flips):
        raise SimError(f"the accelerator has {len(kernels)} MVAU layers, posterior.json {len(posterior.flips)}")
    samplers = []
    for i, (kernel, flip, mode) in enumerate(zip(kernels, posterior.flips, posterior.modes)):
        if kernel.weight_type.bits != 1:
            raise SimError(f"{kernel.node}: {kernel.weight_type.name} weights; the sampler flips 1-bit weights only")
        codes, mode = mvau_matrix(flip), mvau_matrix(mode)
        if codes.shape != (kernel.mw, kernel.mh):
            raise SimError(f"{kernel.node}: weights (MW, MH) = {(kernel.mw, kernel.mh)}, posterior layer {i} "
                           f"gives {codes.shape}")
        stored = _node_bits(kernel)
        same, complement = (stored == mode).all(axis=0), (stored != mode).all(axis=0)
        if not np.all(same | complement):
            raise SimError(f"{kernel.node}: its weights are not posterior layer {i}'s mode (was the build "
                           f"compiled from another run or sample?)")
        lines = probability_lines(codes, kernel.pe, kernel.simd, posterior.bits)[:, ::-1]
        samplers.append(LayerSampler(kernel, i, np.ascontiguousarray(lines), kernel.weight_lines.copy()))
    return samplers


def onchip_flips(samplers: list[LayerSampler], posterior: Posterior, passes: int) -> list[np.ndarray]:
    return [flip_decisions(s.codes, posterior.seed, s.layer, passes, posterior.bits) for s in samplers]


def _set_lines(sampler: LayerSampler, lines: np.ndarray) -> None:
    sampler.kernel.weight_lines = lines
    sampler.kernel.refresh_weights()


def run_passes(accelerator: Accelerator, images: np.ndarray, samplers: list[LayerSampler],
               flips: list[np.ndarray], run=None) -> list[np.ndarray]:
    from bnn2hw.sim.api import run_accelerator
    run = run or (lambda acc, x: run_accelerator(acc, x)[1])
    passes = {f.shape[0] for f in flips}
    if len(passes) != 1:
        raise SimError("every layer needs the same number of passes of flip decisions")
    members = []
    try:
        for k in range(passes.pop()):
            for sampler, flip in zip(samplers, flips):
                _set_lines(sampler, sampler.mode_lines ^ flip[k][:, ::-1].astype(sampler.mode_lines.dtype))
            members.append(run(accelerator, images))
    finally:
        for sampler in samplers:
            _set_lines(sampler, sampler.mode_lines)
    return members


def _load(build_dir: Path) -> tuple[Posterior, Accelerator, list[LayerSampler]]:
    try:
        posterior = read_posterior(build_dir)
    except ValueError as err:
        raise SimError(str(err)) from None
    accelerator = Accelerator.load(Path(build_dir) / "hw")
    return posterior, accelerator, layer_samplers(accelerator, posterior)


def write_probability_memories(build_dir: Path) -> dict | None:
    import json
    if not has_posterior(build_dir):
        return None
    posterior, _accelerator, samplers = _load(build_dir)
    out = Path(build_dir) / "hw" / POSTERIOR_HW_DIR
    out.mkdir(parents=True, exist_ok=True)
    layers = []
    for s in samplers:
        k, name = s.kernel, s.kernel.node.name
        (out / f"{name}_flipprob.dat").write_text(memory_image(s.codes[:, ::-1], posterior.bits))
        group, lanes = lanes_per_line(s.codes.shape[1], posterior.bits)
        layers.append({"node": name, "layer": s.layer, "pe": k.pe, "simd": k.simd, "wmem": int(s.codes.shape[0]),
                       "file": f"{name}_flipprob.dat", "elements_per_lane": group, "lanes": lanes,
                       "lane_seeds": [f"{v:08x}" for v in lane_seeds(posterior.seed, s.layer, lanes).tolist()]})
    manifest = {"bits": posterior.bits, "seed": posterior.seed, "definition": "bnn2hw.sim.sampler", "layers": layers}
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def onchip_members(build_dir: Path, images: np.ndarray, passes: int) -> list[np.ndarray]:
    posterior, accelerator, samplers = _load(build_dir)
    return run_passes(accelerator, images, samplers, onchip_flips(samplers, posterior, passes))


def onchip_ensemble(build_dir: Path, images: np.ndarray, labels: np.ndarray, passes: int, scale: float,
                    mode_scores: np.ndarray) -> dict:
    posterior, accelerator, samplers = _load(build_dir)
    flips = onchip_flips(samplers, posterior, passes)
    members = run_passes(accelerator, images, samplers, flips)
    weights = sum(s.codes.size for s in samplers)
    flipped = sum(int(f.sum()) for f in flips) / max(1, passes * weights)
    expected = sum(float(dequantize(s.codes, posterior.bits).sum()) for s in samplers) / max(1, weights)
    return {"samples": passes, "bits": posterior.bits, "seed": posterior.seed,
            **ensemble_metrics(members, labels, scale, mode_scores),
            "flip_share": flipped, "expected_flip_share": expected,
            "overflows": sum(k.stats.flagged for k in accelerator.kernels)}
