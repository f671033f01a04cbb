"""Rung 3 of the verification ladder: FINN's HW-layer graph against ``model.onnx``, image by image.

Contract: ``verify_hw(hw_layers, qonnx_model, images, limit)`` executes the HW-layer graph
(after ``convert_to_hw``, before specialisation: MVAU, Thresholding, ConvolutionInputGenerator,
Pool, LabelSelect, ... plus the software layout ops at its edges) with FINN's
``finn.core.onnx_exec.execute_onnx`` (Python execution of FINN's custom ops) and ``model.onnx``
with ``qonnx.core.onnx_exec.execute_onnx`` (batched through ``bnn2hw.compile.verify.run_qonnx``
when it ends in one TopK), on the first ``limit`` images (all when None), raw
uint8 (N, C, H, W). FINN's HW layers only execute at batch size 1, so those go one at a time. It returns the
``verify.json`` dict: ``images``, ``label_mismatches`` (``np.array_equal`` semantics on the
int64 labels), ``mismatched_images`` (first 20 indices), ``reference``, ``candidate``,
``images_source``, seconds.
"""

from __future__ import annotations

import time

import numpy as np

from bnn2hw.hw.finn_env import import_finn

REFERENCE = "model.onnx under qonnx.core.onnx_exec.execute_onnx"
CANDIDATE = "FINN HW-layer graph (hw_layers.onnx) under finn.core.onnx_exec.execute_onnx, Python execution"


def _labels(execute, model, images: np.ndarray) -> np.ndarray:
    name_in, name_out = model.graph.input[0].name, model.graph.output[0].name
    shape = tuple(model.get_tensor_shape(name_in))
    out = []
    for image in images:
        x = image.astype(np.float32).reshape(shape)
        y = np.asarray(execute(model, {name_in: x})[name_out]).reshape(-1)
        out.append(y[0])
    as_int = np.rint(np.asarray(out, dtype=np.float64)).astype(np.int64)
    if not np.array_equal(as_int, np.asarray(out)):
        raise ValueError("graph output is not an integer label")
    return as_int


def _reference_labels(qonnx_model, images: np.ndarray, qonnx_execute) -> np.ndarray:
    """Labels of ``model.onnx``: batched by the compiler's ``run_qonnx`` when the graph ends in
    one TopK (as ``bnn2hw compile`` writes it), else image by image."""
    if len(qonnx_model.get_nodes_by_op_type("TopK")) == 1:
        from bnn2hw.compile.verify import run_qonnx
        return run_qonnx(qonnx_model, images)[0]
    return _labels(qonnx_execute, qonnx_model, images)


def verify_hw(hw_layers, qonnx_model, images: np.ndarray, limit: int | None = None,
              images_source: str = "") -> dict:
    """The ``verify.json`` dict of the HW-layer graph vs ``model.onnx`` (see module docstring)."""
    import_finn()
    from finn.core.onnx_exec import execute_onnx as finn_execute
    from qonnx.core.onnx_exec import execute_onnx as qonnx_execute
    images = images if limit is None else images[:limit]
    t0 = time.perf_counter()
    expected = _reference_labels(qonnx_model, images, qonnx_execute)
    t1 = time.perf_counter()
    got = _labels(finn_execute, hw_layers, images)
    t2 = time.perf_counter()
    wrong = np.flatnonzero(got != expected)
    return {"images": int(len(images)), "label_mismatches": int(len(wrong)),
            "mismatched_images": [int(i) for i in wrong[:20]], "reference": REFERENCE,
            "candidate": CANDIDATE, "images_source": images_source,
            "reference_seconds": round(t1 - t0, 3), "candidate_seconds": round(t2 - t1, 3)}


def random_images(shape: tuple[int, ...], count: int = 64, seed: int = 0) -> np.ndarray:
    """Seeded random uint8 images of ``shape`` (C, H, W), for QONNX files without a dataset."""
    return np.random.default_rng(seed).integers(0, 256, size=(count, *shape), dtype=np.uint8)
