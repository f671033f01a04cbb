"""Where FINN puts weights and thresholds in on-chip memory, reimplemented in numpy (finn-plus 1.6.1).

Contract (each function mirrors one FINN method; the tests compare them with FINN's own):
* ``interleave_rows(matrix, pe)`` — ``interleave_matrix_outer_dim_from_partitions``: row ``r``
  goes to PE ``r % pe``, slot ``r // pe``; returns (pe, rows/pe, ...).
* ``mvau_weight_tensor(weights, pe, simd, bipolar)`` — ``MVAU.get_hw_compatible_weight_tensor``:
  ONNX (MW, MH) -> (1, PE, WMEM, SIMD), transposed, bipolar ±1 as 0/1, rows interleaved between
  PEs, SIMD axis reversed.
* ``mvau_weight_lines(weights, pe, simd, wdt)`` — the ``decoupled_verilog_dat`` memory image
  (``memblock.dat``, streamed by memstream into ``Matrix_Vector_Activate_Stream_Batch``): one
  line per weight-memory address ``nf·SF + sf``, PE·SIMD elements, returned as bit patterns
  (WMEM, PE·SIMD) with column 0 the most significant element of the line (the .dat digit
  order). Element (pe, s) of a line is at bit (pe·SIMD + s)·WP: the HLS kernel slices PE ``pe``
  from bits ``[pe·SIMD·WP, (pe+1)·SIMD·WP)``, SIMD lane ``s`` within it.
* ``rows_from_weight_lines(lines, pe, simd, mh, mw)`` — what the MVAU loop reads: the weight bit
  pattern of neuron ``nf·PE + pe``, input ``sf·SIMD + s`` is element (pe, s) of line ``nf·SF + sf``.
* ``threshold_tensor(thresholds, channels, pe)`` — ``get_hw_compatible_threshold_tensor``
  (one shared row is tiled to every channel): (PE, TMEM, steps).
* ``rtl_threshold_stages(thresholds, channels, pe, out_bits)`` — ``Thresholding_rtl``'s
  ``internal_embedded`` files ``{node}_threshs_{pe}_{stage}.dat``: per stage ``s`` and PE, the
  ``2**s`` binary-search thresholds of every channel fold (index ``(cf << s) + i`` holds
  threshold ``(i << (out_bits - s)) + 2**(out_bits - s - 1) - 1``; missing steps padded with 0).
"""

from __future__ import annotations

import numpy as np

from bnn2hw.sim.datatypes import IntType


def interleave_rows(matrix: np.ndarray, pe: int) -> np.ndarray:
    rows = matrix.shape[0]
    return matrix.reshape((rows // pe, pe) + matrix.shape[1:]).swapaxes(0, 1)


def mvau_weight_tensor(weights: np.ndarray, pe: int, simd: int, bipolar: bool) -> np.ndarray:
    mw, mh = weights.shape
    ret = np.asarray(weights, dtype=np.int64).T
    if bipolar:
        ret = (ret + 1) // 2
    ret = interleave_rows(ret, pe).reshape(1, pe, (mh // pe) * (mw // simd), simd)
    return np.flip(ret, axis=-1)


def mvau_weight_lines(weights: np.ndarray, pe: int, simd: int, wdt: IntType) -> np.ndarray:
    tensor = mvau_weight_tensor(weights, pe, simd, bipolar=wdt.bipolar)[0]      # PE, WMEM, SIMD (flipped)
    lines = np.flip(tensor.transpose(1, 0, 2), axis=1)                          # WMEM, PE (flipped), SIMD
    patterns = lines if wdt.bipolar else wdt.to_bits(lines)                    # bipolar: already 0/1
    return np.ascontiguousarray(patterns.reshape(lines.shape[0], pe * simd)).astype(np.int64)


def rows_from_weight_lines(lines: np.ndarray, pe: int, simd: int, mh: int, mw: int) -> np.ndarray:
    nf, sf = mh // pe, mw // simd
    by_bit = lines[:, ::-1].reshape(nf, sf, pe, simd)                           # element (pe, s) at bit pe·SIMD+s
    return np.ascontiguousarray(by_bit.transpose(0, 2, 1, 3).reshape(mh, mw))


def threshold_tensor(thresholds: np.ndarray, channels: int, pe: int) -> np.ndarray:
    if thresholds.shape[0] == 1:
        thresholds = np.tile(thresholds, (channels, 1))
    return interleave_rows(thresholds, pe)


def thresholds_by_channel(tensor: np.ndarray) -> np.ndarray:
    """(PE, TMEM, steps) -> (channels, steps): channel ``nf·PE + pe`` is ``tensor[pe, nf]``."""
    pe, tmem, steps = tensor.shape
    return tensor.transpose(1, 0, 2).reshape(pe * tmem, steps)


def rtl_threshold_stages(thresholds: np.ndarray, channels: int, pe: int, out_bits: int) -> list[np.ndarray]:
    expected = 2 ** out_bits - 1
    if thresholds.shape[1] < expected:
        thresholds = np.pad(thresholds, ((0, 0), (0, expected - thresholds.shape[1])))
    if thresholds.shape[0] == 1:
        thresholds, channels = np.broadcast_to(thresholds, (pe, expected)), pe
    folds = channels // pe
    stages = []
    for stage in range(out_bits):
        sn = out_bits - stage - 1
        mem = np.zeros((pe, folds << stage), dtype=np.int64)
        for p in range(pe):
            for ch in range(folds):
                for i in range(2 ** stage):
                    mem[p, (ch << stage) + i] = thresholds[ch * pe + p][(i << (out_bits - stage)) + 2 ** sn - 1]
        stages.append(mem)
    return stages
