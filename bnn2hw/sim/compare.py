"""Simulator vs the build's reference, image by image, with ``np.array_equal`` semantics.

Contract: ``reference_outputs(model_path, images, engine)`` returns ``(labels, scores)`` of
``model.onnx`` (labels int64; scores int64, or float64 when they are not all integers: an imported
model's TensorNorm tail): ``engine="numpy"`` (default) uses ``bnn2hw.sim.reference`` (numpy only)
unless the graph has nodes it cannot run (an imported Brevitas export), and then, like
``engine="qonnx"``, imports qonnx lazily and runs ``qonnx.core.onnx_exec.execute_onnx`` in
batches (the simulator core never imports qonnx); ``reference_engine`` says which and why, for
sim.json. ``compare(sim_labels, sim_scores, ref_labels, ref_scores)`` returns the counts sim.json
reports: ``mismatches`` (images whose label or, for integer reference scores, any score
differs), ``label_mismatches``, ``score_mismatches`` (score values), ``scores_compared`` and
the first mismatched image indices.
"""

from __future__ import annotations

import numpy as np

from bnn2hw.onnx_batch import labels_and_scores
from bnn2hw.sim.datatypes import SimError
from bnn2hw.sim.graph import load_model
from bnn2hw.sim.reference import run_model, unsupported_nodes

ENGINES = ("numpy", "qonnx")


def _run_qonnx(model_path, images: np.ndarray, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    try:
        return labels_and_scores(load_model(model_path), images, chunk, str(model_path))
    except ValueError as err:
        raise SimError(str(err)) from None


def reference_engine(model_path, engine: str = "numpy") -> tuple[str, str]:
    """(the engine that runs ``model_path``, a description for sim.json): numpy unless it cannot."""
    if engine not in ENGINES:
        raise SimError(f"unknown reference engine {engine!r}; choose from {', '.join(ENGINES)}")
    gaps = unsupported_nodes(model_path) if engine == "numpy" else []
    if gaps:
        return "qonnx", (f"model.onnx under qonnx.core.onnx_exec.execute_onnx (the numpy reference cannot run "
                         f"{', '.join(gaps[:3])}{', ...' if len(gaps) > 3 else ''})")
    return engine, f"model.onnx ({engine})"


def reference_outputs(model_path, images: np.ndarray, engine: str = "numpy") -> tuple[np.ndarray, np.ndarray]:
    if reference_engine(model_path, engine)[0] == "numpy":
        return run_model(model_path, images)
    return _run_qonnx(model_path, images)


def compare(sim_labels: np.ndarray, sim_scores: np.ndarray, ref_labels: np.ndarray,
            ref_scores: np.ndarray) -> dict:
    if ref_scores.dtype.kind == "f":  # an imported model's float scores (TensorNorm): labels only
        label_diff = sim_labels != ref_labels
        return {"mismatches": int(label_diff.sum()), "label_mismatches": int(label_diff.sum()),
                "score_mismatches": 0, "scores_compared": False,
                "mismatched_images": [int(i) for i in np.flatnonzero(label_diff)[:20]]}
    if sim_scores.shape != ref_scores.shape:
        raise SimError(f"simulator scores {sim_scores.shape} and reference scores {ref_scores.shape} differ in shape")
    label_diff = sim_labels != ref_labels
    score_diff = sim_scores != ref_scores
    bad = label_diff | score_diff.any(axis=1)
    return {"mismatches": int(bad.sum()), "label_mismatches": int(label_diff.sum()),
            "score_mismatches": int(score_diff.sum()), "scores_compared": True,
            "mismatched_images": [int(i) for i in np.flatnonzero(bad)[:20]]}
