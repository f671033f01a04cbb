"""The MVAU's fast path: exact integer accumulation by float32 BLAS, fused with the thresholds.

Contract: ``AffineGemm.plan(rows, ...)`` prepares, once per weight memory, the affine form of an
MVAU's exact accumulator on its raw stream values x (bits 0/1 for BINARY/BIPOLAR, integers
otherwise): ``acc = x @ A + b`` with integer A (MW, MH) and b (MH,):

* XNOR: ``acc = popcount(XNOR) = x @ (2w − 1) + #{w = 0}`` (w the weight bits);
* bipolar input into integer weights W: ``acc = (2x − 1) @ W = x @ 2W − ΣW``;
* otherwise ``acc = x @ W``.

It returns ``None`` when the path cannot be exact: a partial sum of ``x @ A`` over the input
type's range may reach 2**24 (float32 holds every integer below it, so BLAS's sums in any order
are exact), or an accumulator in that static range may not fit the accumulator and register
types (then values may overflow and wrap, and ``MVAU`` counts them on its exact int64 path).
Given inputs inside the input type, ``run(x)`` therefore gives exactly what the exact path gives:
no overflow is possible, the register holds ``acc`` unchanged, and the output is
``ActVal + #{T ≤ acc}`` with thresholds compared as ``g ≥ T − b`` in float32 on ``g = x @ A``
(thresholds clipped to g's static range, so they are exact in float32 too), or, without
activation, ``output_type.wrap(acc)``. Rows are processed in blocks of about ``BLOCK_BYTES``
so the float copies stay in cache and memory stays bounded.

``single_threaded_blas()`` (used around ``Accelerator.run``) keeps the OpenBLAS numpy loaded on the
calling thread and restores its thread count after: on these cache-sized blocks worker threads
cost more than they give, up to 9× more on a machine whose cores other jobs load. Other BLAS
libraries are left as they are.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bnn2hw.sim.datatypes import IntType
from bnn2hw.sim.kernels.base import within

EXACT_FLOAT32 = 2 ** 24
BLOCK_BYTES = 1 << 21


@dataclass
class AffineGemm:
    weights: np.ndarray            # A as float32 (MW, MH)
    offset: np.ndarray             # b (MH,) int64
    shifted: np.ndarray | None     # thresholds − b, clipped, float32 (steps, MH); None: no activation
    act_val: int
    out_dtype: np.dtype
    output_type: IntType
    x_range: tuple[int, int]       # raw stream values the plan holds for

    @classmethod
    def plan(cls, rows: np.ndarray, xnor: bool, input_type: IntType, weight_type: IntType, types: list[IntType],
             thresholds: np.ndarray | None, act_val: int, output_type: IntType, out_dtype) -> "AffineGemm | None":
        """``rows``: the weight bit patterns the MVAU reads, (MH, MW); ``types``: accumulator and register."""
        if xnor:
            a, b = 2 * rows.T.astype(np.int64) - 1, (rows == 0).sum(axis=1).astype(np.int64)
        else:
            w = weight_type.from_bits(rows).T  # (MW, MH)
            a, b = (2 * w, -w.sum(axis=0)) if input_type.bipolar else (w, np.zeros(w.shape[1], np.int64))
        lo_x, hi_x = (0, 1) if input_type.bits == 1 else (input_type.min, input_type.max)
        g_lo = np.minimum(a * lo_x, a * hi_x).sum(axis=0)
        g_hi = np.maximum(a * lo_x, a * hi_x).sum(axis=0)
        if max(abs(lo_x), abs(hi_x)) * int(np.abs(a).sum(axis=0).max(initial=0)) >= EXACT_FLOAT32:
            return None
        acc_lo, acc_hi = int((g_lo + b).min(initial=0)), int((g_hi + b).max(initial=0))
        if not all(t.min <= acc_lo and acc_hi <= t.max for t in types):
            return None
        shifted = None
        if thresholds is not None:
            shifted = np.clip(thresholds.T.astype(np.int64) - b, g_lo, g_hi + 1).astype(np.float32)
        return cls(a.astype(np.float32), b, shifted, act_val, np.dtype(out_dtype), output_type, (lo_x, hi_x))

    def accepts(self, x: np.ndarray) -> bool:
        """Whether every raw input value lies in the range the plan was proven for."""
        return within(x, *self.x_range)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Outputs (R, MH) of rows x (R, MW), in the output's compact dtype."""
        rows, mw = x.shape
        mh = self.weights.shape[1]
        out = np.empty((rows, mh), self.out_dtype)
        step = max(16, BLOCK_BYTES // (4 * max(mw, mh)))
        buffer, g = np.empty((min(step, rows), mw), np.float32), np.empty((min(step, rows), mh), np.float32)
        for start in range(0, rows, step):
            n = min(step, rows - start)
            np.copyto(buffer[:n], x[start:start + n], casting="unsafe")
            np.matmul(buffer[:n], self.weights, out=g[:n])
            out[start:start + n] = self._activate(g[:n])
        return out

    def _activate(self, g: np.ndarray) -> np.ndarray:
        if self.shifted is None:
            return self.output_type.wrap(np.rint(g).astype(np.int64) + self.offset)
        if len(self.shifted) == 1 and self.act_val == 0:
            return g >= self.shifted[0]
        passed = np.zeros(g.shape, np.int64)
        for level in self.shifted:
            passed += g >= level
        return passed + self.act_val


@functools.cache
def _openblas_thread_setter():
    """``set(n) -> previous`` for the OpenBLAS numpy loaded, or None (other BLAS, other platform)."""
    maps = Path("/proc/self/maps")
    paths = sorted({line.split()[-1] for line in maps.read_text().splitlines()
                    if "openblas" in line.lower() and line.split()[-1].startswith("/")}) if maps.is_file() else []
    for path in paths:
        try:
            lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        except OSError:
            continue
        local = getattr(lib, "openblas_set_num_threads_local", None)
        if local is not None:  # OpenBLAS >= 0.3.27: per calling thread, returns the previous count
            local.argtypes, local.restype = [ctypes.c_int], ctypes.c_int
            return local
    return None


@contextlib.contextmanager
def single_threaded_blas():
    """Run BLAS on the calling thread only, then restore the previous thread count.

    The simulator's GEMM blocks are small (cache-sized); OpenBLAS's worker threads cost more than
    they give on them, and far more when other processes load the cores.
    """
    setter = _openblas_thread_setter()
    previous = setter(1) if setter is not None else None
    try:
        yield
    finally:
        if setter is not None:
            setter(previous)
