"""MVAU_hls / MVAU_rtl / MVAUBinary_rtl (bnn2hw's RTL): the matrix-vector-activation unit, folded.

Contract: the kernel lays the node's weight initializer (ONNX (MW, MH)) out as FINN's weight
memory (``layout.mvau_weight_lines``: WMEM lines of PE·SIMD elements) and its thresholds as
FINN's threshold memory (``layout.threshold_tensor``: [PE][TMEM][steps]), and computes every
neuron ``nf·PE + pe`` from what the MVAU loop reads at addresses ``nf·SF + sf`` — so a wrong
layout gives wrong outputs. Arithmetic:

* ``binaryXnorMode``: inputs and weights are bits (+1 = 1); the accumulator is the popcount of
  XNOR, ``MW − popcount(x XOR w)`` on rows packed into uint64 limbs (``np.bitwise_count``);
  the bipolar dot product is ``2·acc − MW``. (Summing the popcounts of the SF words of a row is
  the popcount of the whole row: the SIMD split does not change the sum.)
* otherwise: integer dot products of decoded inputs (BIPOLAR bits -> ±1) and weights (two's
  complement, BIPOLAR -> ±1), computed exactly with BLAS (float32 below 2**24, float64 below
  2**53, else int64 matmul; the bound is checked per batch).

Accumulator widths: the annotated ``accDataType`` is what FINN claims the accumulator needs;
the hardware register is, for MVAU_hls, the threshold datatype (``ThresholdsActivation``'s TA,
finn-hlslib ``decltype(activation.init())``) or the output datatype without activation
(``PassThroughActivation``), and ``accDataType`` for the RTL ops. Every exact accumulator that
does not fit either counts as an overflow; the register keeps it modulo 2**bits (two's
complement), as ap_int does, and thresholds compare against the wrapped value
(``comp::less_equal``: output = ActVal + #{T ≤ acc}). Modular accumulation makes the final
value independent of intermediate wrap-around, so only final values are checked.
Speed: where ``float_gemm.AffineGemm.plan`` proves for the node's types that no accumulator can
overflow and float32 is exact, and a batch's inputs lie in the input type, ``compute`` takes
that fused float32-BLAS + threshold path (same outputs, no overflow to count); otherwise the
int64 path above (``compute_exact``). After editing ``weight_lines``, call ``refresh_weights``.
Cycles: ``MH/PE · MW/SIMD · prod(numInputVectors)`` (FINN ``MVAU.get_exp_cycles``, TH = 1).
"""

from __future__ import annotations

import numpy as np

from bnn2hw.sim import layout
from bnn2hw.sim.datatypes import SimError
from bnn2hw.sim.graph import NodeView, as_integers
from bnn2hw.sim.kernels.base import Kernel, compact, vector_dims
from bnn2hw.sim.kernels.float_gemm import AffineGemm
from bnn2hw.sim.packing import pack_bit_rows

EXACT_FLOAT32, EXACT_FLOAT64 = 2 ** 24, 2 ** 53
TEMP_ELEMENTS = 1 << 22  # uint64 limbs per XOR block (32 MiB)


def score_affine(xnor: bool, mw: int) -> tuple[int, int]:
    """(multiply, add) taking an MVAU's output without activation to the QONNX graph's dot
    product: an XNOR layer outputs the popcount p of MW bits, whose bipolar dot product is 2p − MW."""
    return (2, -int(mw)) if xnor else (1, 0)


def xnor_popcount(x_rows: np.ndarray, w_rows: np.ndarray, width: int) -> np.ndarray:
    """popcount(XNOR) of packed rows: x (R, L), w (M, L) uint64 -> (R, M) int64."""
    limbs = w_rows.shape[1]
    out = np.empty((x_rows.shape[0], w_rows.shape[0]), dtype=np.int64)
    step = max(1, TEMP_ELEMENTS // (w_rows.shape[0] * limbs))
    for start in range(0, x_rows.shape[0], step):
        block = np.bitwise_xor(x_rows[start:start + step, None, :], w_rows[None, :, :])
        counts = np.bitwise_count(block)
        hamming = counts[..., 0].astype(np.int64) if limbs == 1 else counts.sum(axis=-1, dtype=np.int64)
        out[start:start + step] = width - hamming
    return out


def exact_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Integer (R, K) @ (K, M) -> int64, exact (see module docstring)."""
    bound = int(np.abs(x).max(initial=0)) * int(np.abs(w).sum(axis=0).max(initial=0))
    if bound < EXACT_FLOAT32:
        return (x.astype(np.float32) @ w.astype(np.float32)).astype(np.int64)
    if bound < EXACT_FLOAT64:
        return (x.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)
    return x.astype(np.int64) @ w.astype(np.int64)


def apply_thresholds(acc: np.ndarray, thresholds: np.ndarray, act_val: int) -> np.ndarray:
    """ActVal + number of thresholds ≤ acc; acc (..., C), thresholds (C, steps)."""
    passed = np.zeros(acc.shape, dtype=np.int64)
    for step in range(thresholds.shape[1]):
        passed += thresholds[:, step] <= acc
    return passed + act_val


class MVAU(Kernel):
    op_types = ("MVAU_hls", "MVAU_rtl", "MVAUBinary_rtl")

    def __init__(self, node: NodeView):
        super().__init__(node)
        self.mw, self.mh = int(node.attr("MW")), int(node.attr("MH"))
        self.pe, self.simd = int(node.attr("PE")), int(node.attr("SIMD"))
        if self.mh % self.pe or self.mw % self.simd:
            raise SimError(f"{node}: PE={self.pe} must divide MH={self.mh} and SIMD={self.simd} MW={self.mw}")
        self.vectors = vector_dims(node)
        self.xnor = bool(node.attr("binaryXnorMode", 0))
        self.weight_type = node.dtype_attr("weightDataType")
        self.acc_type = node.dtype_attr("accDataType")
        self.has_thresholds = not node.attr("noActivation", 0)
        self.act_val = int(node.attr("ActVal", 0))
        self._load_weights()
        self.register_type = self.acc_type
        if self.has_thresholds:
            self._load_thresholds()
        if node.op_type.endswith("_hls"):
            self.register_type = self.threshold_type if self.has_thresholds else self.output_type
        self._plan_fast_path()

    def _load_weights(self) -> None:
        weights = as_integers(self.node.constant(1), f"{self.node} weights")
        if weights.shape != (self.mw, self.mh):
            raise SimError(f"{self.node}: weights {weights.shape}, expected {(self.mw, self.mh)}")
        self.stats.parameter_misfits += self.weight_type.count_misfits(weights)
        self.weight_lines = layout.mvau_weight_lines(weights, self.pe, self.simd, self.weight_type)
        self.refresh_weights()

    def refresh_weights(self) -> None:
        """Re-derive what the MVAU loop reads from ``weight_lines`` (after a test edits memory)."""
        rows = layout.rows_from_weight_lines(self.weight_lines, self.pe, self.simd, self.mh, self.mw)
        if self.xnor:
            self.packed_rows = pack_bit_rows(rows)
        else:
            self.row_values = self.weight_type.from_bits(rows).T  # (MW, MH)
        if hasattr(self, "register_type"):  # thresholds loaded: (re)plan the fast path
            self._plan_fast_path()

    def _plan_fast_path(self) -> None:
        """``float_gemm.AffineGemm`` for these weights, or None where only the exact path is exact."""
        rows = layout.rows_from_weight_lines(self.weight_lines, self.pe, self.simd, self.mh, self.mw)
        out_dtype = compact(np.zeros(0, np.int64), self.output_type).dtype
        self.fast_path = AffineGemm.plan(rows, self.xnor, self.input_type, self.weight_type,
                                         [self.acc_type, self.register_type],
                                         self.thresholds if self.has_thresholds else None,
                                         self.act_val, self.output_type, out_dtype)

    def _load_thresholds(self) -> None:
        raw = as_integers(self.node.constant(2), f"{self.node} thresholds")
        self.threshold_type = self.node.constant_dtype(2, fallback=self.node.attr("accDataType"))
        self.stats.parameter_misfits += self.threshold_type.count_misfits(raw)
        self.threshold_memory = layout.threshold_tensor(raw, self.mh, self.pe)
        self.thresholds = layout.thresholds_by_channel(self.threshold_memory)

    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.vectors[1:]) + (self.mw,)

    def in_word_elems(self) -> int:
        return self.simd

    def out_word_elems(self) -> int:
        return self.pe

    def accumulate(self, x: np.ndarray) -> np.ndarray:
        """Exact accumulators (R, MH) int64 of input rows (R, MW)."""
        if self.xnor:
            return xnor_popcount(pack_bit_rows(x), self.packed_rows, self.mw)
        values = 2 * x.astype(np.int64) - 1 if self.input_type.bipolar else x
        return exact_matmul(values, self.row_values)

    def compute(self, x: np.ndarray) -> np.ndarray:
        lead, rows = x.shape[:-1], x.reshape(-1, self.mw)
        if self.fast_path is not None and self.fast_path.accepts(rows):
            return self.fast_path.run(rows).reshape(lead + (self.mh,))
        return self.compute_exact(x)

    def compute_exact(self, x: np.ndarray) -> np.ndarray:
        """The int64 path: exact accumulators, overflow counts, register wrap-around, thresholds."""
        lead = x.shape[:-1]
        acc = self.accumulate(x.reshape(-1, self.mw))
        fits = self.acc_type.fits(acc) & self.register_type.fits(acc)
        self.stats.overflows += int(acc.size - np.count_nonzero(fits))
        held = self.register_type.wrap(acc)
        if self.has_thresholds:
            out = apply_thresholds(held, self.thresholds, self.act_val)
        else:
            out = self.output_type.wrap(held)
        return compact(out, self.output_type).reshape(lead + (self.mh,))

    def bipolar_scores(self, outputs: np.ndarray) -> np.ndarray:
        """The dot products the QONNX graph computes, from this node's outputs (no activation)."""
        multiply, add = score_affine(self.xnor, self.mw)
        return multiply * outputs.astype(np.int64) + add

    def exp_cycles(self) -> int:
        return int((self.mh // self.pe) * (self.mw // self.simd) * int(np.prod(self.vectors)))

    def binary_macs(self) -> int:
        """XNOR-popcount operations per image (0 for integer layers)."""
        return self.mh * self.mw * int(np.prod(self.vectors)) if self.xnor else 0


