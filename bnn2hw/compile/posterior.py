"""``export_posterior``: the posterior of a run beside its compiled mode network (``--posterior-bits B``).

Contract: ``export_posterior(ckpt, qonnx_model, bits, out_dir)`` takes the run's latent tensors
(one per binary layer, ``model.binary_layers()`` order), computes every weight's flip probability
relative to the mode, p = sigmoid(−2|latent|), quantizes it to ``bits`` bits
(``bnn2hw.posterior_memory``: P = floor(p·2^B + 1/2), realized flip probability P/2^B, P = 0
deterministic) and writes ``posterior.json`` + ``posterior.npz`` into ``out_dir``, each array in
the shape of ``model.onnx``'s weight initializer of that layer (MatMul: the latent transposed,
(in, out); Conv: as is). ``mode`` holds the initializer's bits: sign(latent), with every
neuron the exporter negated (batchnorm γ < 0 folded into the weights) negated whole, as the
hardware stores it — a flip relative to the stored bit is the same posterior sample. It checks
that the initializers are the mode up to such negations (so the build compiled from
``model.onnx`` is the network the flips are relative to) and returns the json dict.
``check_posterior_request`` refuses, with ``CompileError`` in one line, before any work: a method
without a posterior (STE, LNS; the message names the method), a compile of a posterior sample
(``--sample``: flips are relative to the mode), bits outside 0..16 (0: no export). PBNet and
PBNet-S export the same way (q(+1) = sigmoid(2a)); their on-chip samples share the mode's
thresholds (no per-member batchnorm re-estimation as their software ensembles do). The sampler
seed recorded is the run's training seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bnn2hw.compile.integer_net import CompileError
from bnn2hw.posterior_memory import (
    MAX_BITS, Posterior, flip_probability, quantize_flip_probability, write_posterior,
)
from bnn2hw.train.method_base import Method


def check_posterior_request(ckpt: dict, bits: int, sample: int | None) -> None:
    """Refuse ``--posterior-bits`` for what has no posterior to export (one line, naming why)."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 0 <= bits <= MAX_BITS:
        raise CompileError(f"--posterior-bits must be an integer in 0..{MAX_BITS}, got {bits!r}")
    if not bits:
        return
    method = ckpt["config"].get("method")
    try:
        probabilistic = Method(method).probabilistic
    except ValueError:
        probabilistic = False
    if not probabilistic:
        raise CompileError(f"--posterior-bits: method {method!r} has no posterior to export (only bayesbinn, "
                           f"pbnet and pbnet-s do); compile without --posterior-bits")
    if sample is not None:
        raise CompileError("--posterior-bits exports flips relative to the posterior mode: compile the mode "
                           "(no --sample) with it")


def weight_initializers(qonnx_model) -> list[np.ndarray]:
    """The binary weight initializers of model.onnx, MatMul / Conv nodes in graph order."""
    out = []
    for node in qonnx_model.graph.node:
        if node.op_type in ("MatMul", "Conv"):
            out.append(qonnx_model.get_initializer(node.input[1]))
    return out


def initializer_shaped(latent: np.ndarray) -> np.ndarray:
    """A latent tensor (torch Linear (out, in) or Conv (out, in, kh, kw)) in model.onnx's orientation."""
    return latent.T if latent.ndim == 2 else latent


def is_mode(latent: np.ndarray, init: np.ndarray) -> bool:
    """Whether ``init`` is sign(latent) (sign(0) = +1), each output neuron possibly negated whole (the
    exporter negates a neuron whose batchnorm γ < 0)."""
    same = (latent >= 0) == (init > 0)
    per_neuron = same.reshape(same.shape[0], -1) if same.ndim == 4 else same.T
    return bool(np.all(per_neuron.all(axis=1) | (~per_neuron).all(axis=1)))


def export_posterior(ckpt: dict, qonnx_model, bits: int, out_dir: Path) -> dict:
    latents = [initializer_shaped(t.detach().double().cpu().numpy()) for t in ckpt["latent"]]
    inits = weight_initializers(qonnx_model)
    if len(inits) != len(latents):
        raise CompileError(f"model.onnx has {len(inits)} weight layers, the checkpoint {len(latents)} latent tensors")
    flips, modes, exact = [], [], []
    for i, (latent, init) in enumerate(zip(latents, inits)):
        if init is None or init.shape != latent.shape or not is_mode(latent, init):
            raise CompileError(f"weight layer {i} of model.onnx is not the posterior mode of latent {i}")
        mode = (init > 0).astype(np.uint8)
        p = flip_probability(latent)
        flips.append(quantize_flip_probability(p, bits))
        modes.append(mode)
        exact.append(p)
    seed = int(ckpt["config"].get("seed", 0))
    posterior = Posterior(bits, seed, str(ckpt["config"].get("method")), tuple(flips), tuple(modes))
    return write_posterior(Path(out_dir), posterior, exact)
