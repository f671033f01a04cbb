"""Thresholding_hls / Thresholding_rtl: multi-threshold activation of a stream, PE channels a cycle.

Contract: channel ``c`` of every input vector gets ``ActVal + #{thresholds passed}``.
* Thresholding_hls (finn-hlslib ``ThresholdsActivation``): thresholds from FINN's threshold
  memory ([PE][TMEM][steps], ``layout.threshold_tensor``), the input is assigned to the
  threshold type TA (wrapped like ap_int; a value that does not fit counts as an overflow) and
  compared with ``comp::less_equal``: passed iff T ≤ x.
* Thresholding_rtl (finn-rtllib ``thresholding``): a binary search over per-stage memories laid
  out as FINN's ``internal_embedded`` files (``layout.rtl_threshold_stages``); stage ``s`` picks
  the threshold at ``(channel_fold << s) + prefix`` and appends bit ``x ≥ T`` to the prefix; the
  prefix after the last stage is the count. An input wider than the threshold type is first
  saturated to its range (what ``minimize_weight_bit_width`` of Thresholding_rtl plans for).
Cycles: ``prod(numInputVectors) · NumChannels/PE`` (FINN ``Thresholding.get_exp_cycles``).
"""

from __future__ import annotations

import numpy as np

from bnn2hw.sim import layout
from bnn2hw.sim.datatypes import SimError
from bnn2hw.sim.graph import NodeView, as_integers
from bnn2hw.sim.kernels.base import Kernel, compact, vector_dims
from bnn2hw.sim.kernels.mvau import apply_thresholds


def binary_search_thresholds(x: np.ndarray, stages: list[np.ndarray], pe: int, shared: bool) -> np.ndarray:
    """Count of thresholds passed, by the RTL's binary search; x (..., C)."""
    channels = x.shape[-1]
    lane = np.arange(channels) % pe
    fold = np.zeros(channels, np.int64) if shared else np.arange(channels) // pe
    # The prefix holds len(stages) bits: a narrow integer keeps the big element-wise passes cheap.
    narrow = np.uint8 if len(stages) <= 8 else np.int64
    prefix = (x >= stages[0][lane, fold]).astype(narrow)  # stage 0: one threshold per channel
    if len(stages) > 1:
        prefix = prefix.astype(np.int64)
    for stage, memory in enumerate(stages[1:], start=1):
        threshold = memory[lane, (fold << stage) + prefix]
        prefix = (prefix << 1) | (x >= threshold)
    return prefix


class Thresholding(Kernel):
    op_types = ("Thresholding_hls", "Thresholding_rtl")

    def __init__(self, node: NodeView):
        super().__init__(node)
        self.channels, self.pe = int(node.attr("NumChannels")), int(node.attr("PE"))
        if self.channels % self.pe:
            raise SimError(f"{node}: PE={self.pe} must divide NumChannels={self.channels}")
        self.vectors = vector_dims(node)
        self.act_val = int(node.attr("ActVal", 0))
        self.threshold_type = node.dtype_attr("weightDataType")
        raw = as_integers(node.constant(1), f"{node} thresholds")
        if raw.shape[1] != int(node.attr("numSteps", raw.shape[1])):
            raise SimError(f"{node}: {raw.shape[1]} threshold steps, numSteps={node.attr('numSteps')}")
        self.stats.parameter_misfits += self.threshold_type.count_misfits(raw)
        self.rtl = node.op_type.endswith("_rtl")
        if self.rtl:
            out_bits = self.output_type.bits
            self.shared = raw.shape[0] == 1
            self.stages = layout.rtl_threshold_stages(raw, self.channels, self.pe, out_bits)
        else:
            self.threshold_memory = layout.threshold_tensor(raw, self.channels, self.pe)
            self.thresholds = layout.thresholds_by_channel(self.threshold_memory)

    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.vectors[1:]) + (self.channels,)

    def in_word_elems(self) -> int:
        return self.pe

    def out_word_elems(self) -> int:
        return self.pe

    def compute(self, x: np.ndarray) -> np.ndarray:
        if self.rtl:
            if self.threshold_type.bits < self.input_type.bits:
                x = np.clip(x, self.threshold_type.min, self.threshold_type.max)
            out = binary_search_thresholds(x, self.stages, self.pe, self.shared)
            if self.act_val:
                out = out.astype(np.int64) + self.act_val
        else:
            self.stats.overflows += self.threshold_type.count_misfits(x)
            out = apply_thresholds(self.threshold_type.wrap(x.astype(np.int64)), self.thresholds, self.act_val)
        return compact(out, self.output_type)

    def exp_cycles(self) -> int:
        return int(np.prod(self.vectors)) * (self.channels // self.pe)
