"""The exported posterior: per-weight flip probabilities relative to the mode, quantized to B bits.

Contract (one definition, written by ``bnn2hw compile --posterior-bits B``, read by ``bnn2hw.sim``
and, later, the RTL sampler's memory images):

* Flip probability. For a method with a posterior q(w = +1) = sigmoid(2·latent) per weight
  (BayesBiNN: latent = λ; PBNet: latent = a, θ = tanh a), the mode is sign(latent) (sign(0) = +1,
  bit 1) and the probability that a sample differs from the mode is
  ``p = 1 − q(mode) = sigmoid(−2·|latent|)`` ∈ (0, 0.5], computed in float64 from the stored
  float32 latent (``flip_probability``).
* Quantization (``quantize_flip_probability``): ``P = floor(p · 2**B + 1/2)`` (round half up).
  Since p ≤ 1/2, P ∈ [0, 2**(B−1)]: it fits B unsigned bits with one code to spare, and no
  clipping is needed (clipping to 2**B − 1 would only matter for p > 1/2, which the mode rules
  out). The sampler flips a weight when ``u < P`` with u uniform on B bits, so the realized flip
  probability is ``P / 2**B`` (|P/2**B − p| ≤ 2**−(B+1)), and the realized posterior is
  q'(w = mode) = 1 − P/2**B: every q is moved to the nearest multiple of 2**−B (ties away from the
  mode). ``P = 0`` means deterministic: that weight is the mode's in every pass (all weights
  with p < 2**−(B+1)); ``P = 2**(B−1)`` is a fair coin (p ≥ 1/2 − 2**−(B+1)). B = 1 keeps only
  fair coins (p ≥ 1/4) and deterministic weights. ``dequantize`` is P / 2**B.
* Files, in the build directory beside ``model.onnx``: ``posterior.json`` (``FORMAT``; ``bits``,
  ``method``, ``seed`` (the sampler seed, the run's training seed), ``quantization`` (the rule
  above, in words), ``layers``: per binary layer in network order ``index``, ``shape``,
  ``flip`` and ``mode`` (array names), ``deterministic_share`` (share with P = 0),
  ``mean_flip_probability`` (realized, P/2**B) and ``mean_exact_flip_probability`` (p)) and
  ``posterior.npz``: per layer ``flip_<i>`` (unsigned P, uint8 for B ≤ 8 else uint16) and
  ``mode_<i>`` (uint8, 1 = +1: model.onnx's weight bits, the mode sign(latent) with neurons the
  exporter negated (γ < 0) negated whole), both in the shape of ``model.onnx``'s weight
  initializer of that layer (MatMul: (in, out); Conv: (out, in, kh, kw)). The FINN-style memory layout (PE·SIMD
  elements a line, B bits each) depends on the build's folding and is derived from these
  arrays by ``bnn2hw.sim.posterior`` with the weight memory's own layout function.
  ``write_posterior`` / ``read_posterior`` write and read them; a malformed file raises
  ``ValueError`` naming it.

numpy only: every stage may import it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT = "bnn2hw-posterior/1"
JSON_FILE, NPZ_FILE = "posterior.json", "posterior.npz"
MAX_BITS = 16
QUANTIZATION = ("P = floor(p * 2**B + 1/2) with p = sigmoid(-2|latent|) = 1 - q(mode); flip when u < P, "
                "u uniform on B bits: realized flip probability P / 2**B; P = 0: deterministic")


def check_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= MAX_BITS:
        raise ValueError(f"posterior bits must be an integer in 1..{MAX_BITS}, got {bits!r}")
    return int(bits)


def flip_probability(latent: np.ndarray) -> np.ndarray:
    """p = sigmoid(−2|latent|) in float64: the probability a posterior sample differs from the mode."""
    z = 2.0 * np.abs(np.asarray(latent, dtype=np.float64))
    return np.exp(-np.logaddexp(0.0, z))


def quantize_flip_probability(p: np.ndarray, bits: int) -> np.ndarray:
    """P = floor(p · 2**bits + 1/2) as an unsigned integer array (see module docstring)."""
    bits = check_bits(bits)
    p = np.asarray(p, dtype=np.float64)
    if p.size and (np.nanmin(p) < 0 or np.nanmax(p) > 0.5 or np.isnan(p).any()):
        raise ValueError("flip probabilities relative to the mode lie in [0, 0.5]")
    dtype = np.uint8 if bits <= 8 else np.uint16
    return np.floor(p * (1 << bits) + 0.5).astype(dtype)


def dequantize(codes: np.ndarray, bits: int) -> np.ndarray:
    """The realized flip probability P / 2**bits."""
    return np.asarray(codes, dtype=np.float64) / (1 << check_bits(bits))


@dataclass(frozen=True)
class Posterior:
    """What ``posterior.json`` + ``posterior.npz`` hold: B, the sampler seed, per layer P and mode."""

    bits: int
    seed: int
    method: str
    flips: tuple[np.ndarray, ...]   # P per layer, model.onnx weight-initializer shape
    modes: tuple[np.ndarray, ...]   # 0/1 per layer (1 = +1), same shapes

    def __post_init__(self):
        if len(self.flips) != len(self.modes) or any(f.shape != m.shape for f, m in zip(self.flips, self.modes)):
            raise ValueError("posterior: one flip-probability and one mode array of the same shape per layer")


def layer_summary(index: int, flip: np.ndarray, exact: np.ndarray | None, bits: int) -> dict:
    return {"index": index, "shape": list(flip.shape), "flip": f"flip_{index}", "mode": f"mode_{index}",
            "deterministic_share": float(np.mean(flip == 0)) if flip.size else 1.0,
            "mean_flip_probability": float(dequantize(flip, bits).mean()) if flip.size else 0.0,
            "mean_exact_flip_probability": None if exact is None or not exact.size else float(exact.mean())}


def write_posterior(out_dir: Path, posterior: Posterior, exact: list[np.ndarray] | None = None) -> dict:
    """Write ``posterior.json`` and ``posterior.npz`` into ``out_dir``; returns the json dict."""
    out_dir = Path(out_dir)
    arrays = {}
    for i, (flip, mode) in enumerate(zip(posterior.flips, posterior.modes)):
        arrays[f"flip_{i}"], arrays[f"mode_{i}"] = flip, mode.astype(np.uint8)
    np.savez_compressed(out_dir / NPZ_FILE, **arrays)
    summary = {"format": FORMAT, "bits": posterior.bits, "seed": posterior.seed, "method": posterior.method,
               "file": NPZ_FILE, "quantization": QUANTIZATION,
               "layers": [layer_summary(i, f, None if exact is None else exact[i], posterior.bits)
                          for i, f in enumerate(posterior.flips)]}
    (out_dir / JSON_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def has_posterior(build_dir: Path) -> bool:
    return (Path(build_dir) / JSON_FILE).is_file()


def read_posterior(build_dir: Path) -> Posterior:
    """The posterior a build directory holds (``ValueError`` naming the file if malformed)."""
    path = Path(build_dir) / JSON_FILE
    try:
        meta = json.loads(path.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
        bits = check_bits(meta["bits"])
        with np.load(Path(build_dir) / meta["file"]) as npz:
            flips = tuple(np.asarray(npz[layer["flip"]]) for layer in meta["layers"])
            modes = tuple(np.asarray(npz[layer["mode"]]) for layer in meta["layers"])
        limit = 1 << (bits - 1)
        if any(f.size and int(f.max()) > limit for f in flips) or any(m.size and int(m.max()) > 1 for m in modes):
            raise ValueError(f"flip codes above 2**(B-1) = {limit} or modes other than 0/1")
        return Posterior(bits, int(meta["seed"]), str(meta.get("method")), flips, modes)
    except (OSError, KeyError, TypeError, ValueError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable bnn2hw posterior ({err})") from None
