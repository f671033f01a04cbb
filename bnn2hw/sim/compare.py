"""Simulator vs the build's reference, image by image, with ``np.array_equal`` semantics.

Contract: ``reference_outputs(model_path, images, engine)`` returns ``(labels, scores)`` int64 of
``model.onnx``: ``engine="numpy"`` (default) uses ``bnn2hw.sim.reference`` (numpy only);
``engine="qonnx"`` imports qonnx lazily and runs ``qonnx.core.onnx_exec.execute_onnx`` image by
image (slow; for cross-checks — the simulator core never imports qonnx).
``compare(sim_labels, sim_scores, ref_labels, ref_scores)`` returns the counts sim.json reports:
``mismatches`` (images whose label or any score differs), ``label_mismatches``,
``score_mismatches`` (score values) and the first mismatched image indices.
"""

from __future__ import annotations

import numpy as np

from bnn2hw.sim.datatypes import SimError
from bnn2hw.sim.reference import run_model

ENGINES = ("numpy", "qonnx")


def _run_qonnx(model_path, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    model = ModelWrapper(str(model_path))
    topk = model.get_nodes_by_op_type("TopK")[0]
    name_in, name_out = model.graph.input[0].name, model.graph.output[0].name
    labels, scores = [], []
    for image in images:
        ctx = execute_onnx(model, {name_in: image[None].astype(np.float32)}, return_full_exec_context=True)
        labels.append(int(np.asarray(ctx[name_out]).reshape(-1)[0]))
        scores.append(np.rint(np.asarray(ctx[topk.input[0]])).astype(np.int64).reshape(-1))
    return np.array(labels, np.int64), np.array(scores, np.int64).reshape(len(images), -1)


def reference_outputs(model_path, images: np.ndarray, engine: str = "numpy") -> tuple[np.ndarray, np.ndarray]:
    if engine == "numpy":
        return run_model(model_path, images)
    if engine == "qonnx":
        return _run_qonnx(model_path, images)
    raise SimError(f"unknown reference engine {engine!r}; choose from {', '.join(ENGINES)}")


def compare(sim_labels: np.ndarray, sim_scores: np.ndarray, ref_labels: np.ndarray,
            ref_scores: np.ndarray) -> dict:
    if sim_scores.shape != ref_scores.shape:
        raise SimError(f"simulator scores {sim_scores.shape} and reference scores {ref_scores.shape} differ in shape")
    label_diff = sim_labels != ref_labels
    score_diff = sim_scores != ref_scores
    bad = label_diff | score_diff.any(axis=1)
    return {"mismatches": int(bad.sum()), "label_mismatches": int(label_diff.sum()),
            "score_mismatches": int(score_diff.sum()),
            "mismatched_images": [int(i) for i in np.flatnonzero(bad)[:20]]}
