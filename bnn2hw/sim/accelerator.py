"""The whole accelerator: software layout ops of the parent graph + the folded dataflow graph.

Contract: ``Accelerator.load(hw_dir)`` reads ``hw_dir/dataflow.onnx`` (specialised, folded HW
layers, one kernel per node, see ``bnn2hw.sim.kernels``) and ``hw_dir/dataflow_parent.onnx``
(Transpose / Reshape / Flatten / Identity around the ``StreamingDataflowPartition``; without it
images are flattened (rank-2 input) or transposed NCHW->NHWC (rank-4) as FINN's parents do).
``run(images)`` takes raw uint8 images (N, C, H, W), applies the parent's layout ops, packs the
partition input into FINN stream words of the first node's input width (``packing``; this is
what the input DMA sends) and unpacks them as the first node reads them, runs every node in
graph order, and returns a ``RunOutput``: labels (N, K), the raw scores entering LabelSelect
(the last MVAU's accumulators as its output register holds them) and those scores mapped to
the QONNX graph's integer dot products (``2·popcount − MW`` for an XNOR layer). A build made
with ``--output scores`` has no LabelSelect: its output is those raw scores, its label their
first maximum (``top1``, as LabelSelect's), and ``score_node`` is its last MVAU; ``outputs``
and ``scores_output`` map a run's tensors, or output values read elsewhere (the stitched RTL's),
the same way. Per-node flags
accumulate in each kernel's ``stats``; ``cycles()`` lists FINN's expected cycles per node.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bnn2hw.sim.datatypes import SimError
from bnn2hw.sim.graph import GraphView, NodeView, load_model
from bnn2hw.sim.kernels import Kernel, make_kernel
from bnn2hw.sim.kernels.base import stream_misfits
from bnn2hw.sim.kernels.float_gemm import single_threaded_blas
from bnn2hw.sim.kernels.mvau import MVAU
from bnn2hw.sim.kernels.pool import LabelSelect
from bnn2hw.sim.packing import pack_words, unpack_words

DATAFLOW_FILE, PARENT_FILE = "dataflow.onnx", "dataflow_parent.onnx"
PARTITION_OP = "StreamingDataflowPartition"
LAYOUT_OPS = ("Transpose", "Reshape", "Flatten", "Identity")


@dataclass
class RunOutput:
    labels: np.ndarray          # (N, K) int64, best first
    raw_scores: np.ndarray      # (N, classes) int64, what LabelSelect reads
    scores: np.ndarray          # (N, classes) int64, the QONNX graph's integer scores


def top1(scores: np.ndarray) -> np.ndarray:
    """(N, classes) scores (or averaged probabilities) -> (N,) labels: the first maximum, as FINN's
    LabelSelect and ONNX TopK break ties (the one definition for labels read off scores; the deploy
    driver, numpy only, uses the same ``np.argmax``)."""
    return np.argmax(scores, axis=1).astype(np.int64)


def layout_op(node: NodeView, x: np.ndarray) -> np.ndarray:
    """One software layout op of the parent graph, batch-aware."""
    if node.op_type == "Transpose":
        return np.transpose(x, node.attr("perm"))
    if node.op_type == "Flatten":
        axis = int(node.attr("axis", 1))
        return x.reshape(int(np.prod(x.shape[:axis])), -1)
    if node.op_type == "Reshape":
        shape = [int(v) for v in node.constant(1)]
        return x.reshape([x.shape[0] if i == 0 else v for i, v in enumerate(shape)])
    if node.op_type == "Identity":
        return x
    raise SimError(f"parent graph: no simulator support for node {node.op_type} {node.name!r} "
                   f"(supported: {', '.join(LAYOUT_OPS)} around the {PARTITION_OP})")


def through_stream(values: np.ndarray, kernel: Kernel) -> np.ndarray:
    """Pack values into the node's input stream words and read them back as the node does."""
    dtype, elems = kernel.input_type, kernel.in_word_elems()
    flat = values.reshape(values.shape[0], -1, elems)
    words = pack_words(dtype.to_bits(flat), dtype.bits)
    patterns = unpack_words(words, dtype.bits, elems)
    decoded = patterns if dtype.bits == 1 else dtype.from_bits(patterns)
    return decoded.reshape(values.shape).astype(values.dtype)


class Accelerator:
    """See module docstring."""

    def __init__(self, dataflow: GraphView, parent: GraphView | None):
        self.dataflow, self.parent = dataflow, parent
        self.kernels = [make_kernel(node) for node in dataflow.nodes()]
        if not self.kernels:
            raise SimError("the dataflow graph has no nodes")
        self.input_name = dataflow.graph.input[0].name
        self.output_name = dataflow.graph.output[0].name
        self.label_select = next((k for k in self.kernels if isinstance(k, LabelSelect)), None)
        self.score_node = self._score_node()

    @classmethod
    def load(cls, hw_dir) -> "Accelerator":
        hw_dir = Path(hw_dir)
        parent_path = hw_dir / PARENT_FILE
        parent = GraphView(load_model(parent_path)) if parent_path.is_file() else None
        return cls(GraphView(load_model(hw_dir / DATAFLOW_FILE)), parent)

    def _score_node(self) -> MVAU | None:
        if self.label_select is None:  # a scores build ends in the MVAU whose scores it outputs
            return self.kernels[-1] if isinstance(self.kernels[-1], MVAU) else None
        source = self.label_select.node.inputs[0]
        return next((k for k in self.kernels if source in k.node.outputs and isinstance(k, MVAU)), None)

    def _to_partition_input(self, images: np.ndarray) -> np.ndarray:
        x = images if images.dtype.kind in "ui" else images.astype(np.int64)
        if self.parent is None:
            rank = len(self.kernels[0].input_shape()) + 1
            return x.reshape(len(x), -1) if rank == 2 else x.transpose(0, 2, 3, 1)
        for node in self.parent.nodes():
            if node.op_type == PARTITION_OP:
                return x
            x = layout_op(node, x)
        raise SimError(f"{PARENT_FILE}: no {PARTITION_OP} node")

    def run(self, images: np.ndarray) -> RunOutput:
        return self.outputs(self.node_streams(images), len(images))

    def node_streams(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Raw uint8 images -> every tensor of the partition (what each node reads and writes)."""
        x = self._to_partition_input(images)
        first = self.kernels[0]
        x = x.reshape((len(x),) + first.input_shape())
        first.stats.input_misfits += stream_misfits(first.input_type, x)  # packing truncates them
        return self.run_stream(through_stream(x, first))

    def run_stream(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Values entering the partition -> every tensor of the partition, node by node."""
        context = {self.input_name: x}
        with single_threaded_blas():
            for kernel in self.kernels:
                context[kernel.node.outputs[0]] = kernel.execute(context[kernel.node.inputs[0]])
        return context

    def outputs(self, context: dict, n: int) -> RunOutput:
        """``node_streams``' tensors of ``n`` images -> their labels and scores."""
        result = context[self.output_name]
        if self.label_select is None:
            return self.scores_output(result.reshape(n, -1))
        raw = context[self.label_select.node.inputs[0]].reshape(n, -1).astype(np.int64)
        scores = self.score_node.bipolar_scores(raw) if self.score_node is not None else raw
        return RunOutput(result.reshape(n, -1).astype(np.int64), raw, scores)

    def scores_output(self, raw: np.ndarray) -> RunOutput:
        """A scores build's output values (N, classes) -> labels, raw and QONNX scores. The label is
        ``top1`` of the raw scores: for an XNOR layer 2p − MW is increasing in p, so the same class."""
        raw = raw.astype(np.int64)
        scores = self.score_node.bipolar_scores(raw) if self.score_node is not None else raw
        return RunOutput(top1(raw)[:, None], raw, scores)

    def cycles(self) -> dict[str, int]:
        return {k.node.name: k.exp_cycles() for k in self.kernels}

    def binary_macs(self) -> int:
        return sum(k.binary_macs() for k in self.kernels if isinstance(k, MVAU))

    def reset_stats(self) -> None:
        for kernel in self.kernels:
            kernel.stats.overflows = kernel.stats.input_misfits = 0
