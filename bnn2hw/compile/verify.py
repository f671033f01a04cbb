"""Rung 1 -> rung 2 of the verification ladder: integer reference vs QONNX execution.

Contract: ``run_qonnx(model, images)`` executes ``model.onnx`` with
``qonnx.core.onnx_exec.execute_onnx`` on raw uint8 images, in as few batches as memory
allows (a re-shaped copy of the batch-1 graph per batch size), and returns ``(labels, scores)``:
the graph's output as int64 labels and the input of its TopK (the last layer's scores), int64
when every score is an integer (``bnn2hw compile``'s graphs: checked by ``verify_network``), else
float64 (an imported model's TensorNorm tail: only its labels are compared). The executed copy has
no datatype annotations, so qonnx's rounding of tensors to them is off: a label must come out an
integer by itself (checked; the error names ``source`` and the tensor).
``verify_network`` compares them with the reference ``integer_forward`` with
``np.array_equal`` semantics and returns the ``verify.json`` dict: ``images``,
``label_mismatches`` (images), ``value_mismatches`` (score values), ``reference``,
``candidate``, ``integer_accuracy``, ``qonnx_accuracy`` and, when torch float labels are
given, ``torch_float_accuracy`` and ``torch_integer_label_disagreements``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from bnn2hw.compile.integer_net import IntegerNetwork
from bnn2hw.compile.reference import integer_forward
from bnn2hw.onnx_batch import labels_and_scores

REFERENCE = "bnn2hw.compile.reference.integer_forward: numpy integer forward of the folded network"
CANDIDATE = "model.onnx under qonnx.core.onnx_exec.execute_onnx"


@dataclass(frozen=True)
class VerifyConfig:
    max_elements: int = 2 ** 25  # batch so that the largest activation has at most this many values


def _batch_size(model: ModelWrapper, config: VerifyConfig) -> int:
    """Images per execute_onnx call: few calls (each builds an onnxruntime session per node)."""
    largest = max(int(np.prod(model.get_tensor_shape(v.name)[1:])) for v in
                  [*model.graph.input, *model.graph.value_info, *model.graph.output])
    return max(1, config.max_elements // max(largest, 1))


def run_qonnx(model: ModelWrapper, images: np.ndarray, config: VerifyConfig = VerifyConfig(),
              source: str = "model.onnx") -> tuple[np.ndarray, np.ndarray]:
    """(labels int64, scores int64 or float64) of the QONNX graph on images (N, C, H, W)."""
    return labels_and_scores(model.model, images, _batch_size(model, config), source)


def verify_network(net: IntegerNetwork, model: ModelWrapper, images: np.ndarray, labels: np.ndarray,
                   float_labels: np.ndarray | None = None, config: VerifyConfig = VerifyConfig()) -> dict:
    """The ``verify.json`` dict (see module docstring)."""
    t0 = time.perf_counter()
    ref_labels, ref_scores = integer_forward(net, images)
    t1 = time.perf_counter()
    got_labels, got_scores = run_qonnx(model, images, config)
    t2 = time.perf_counter()
    same_shape = got_scores.shape == ref_scores.shape and got_scores.dtype == np.int64
    report = {
        "images": int(len(images)),
        "label_mismatches": int((got_labels != ref_labels).sum()),
        "value_mismatches": int((got_scores != ref_scores).sum()) if same_shape else int(ref_scores.size),
        "reference": REFERENCE,
        "candidate": CANDIDATE,
        "integer_accuracy": _accuracy(ref_labels, labels),
        "qonnx_accuracy": _accuracy(got_labels, labels),
        "reference_seconds": round(t1 - t0, 3),
        "qonnx_seconds": round(t2 - t1, 3),
    }
    if float_labels is not None:
        report["torch_float_accuracy"] = _accuracy(float_labels, labels)
        report["torch_integer_label_disagreements"] = int((float_labels != ref_labels).sum())
    return report


def _accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    return float((predicted == labels).mean()) if len(labels) else float("nan")
