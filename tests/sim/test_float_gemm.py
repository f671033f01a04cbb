"""float_gemm.AffineGemm against direct int64 arithmetic: XNOR, bipolar and integer inputs,
multi-step thresholds with ActVal, thresholds far outside the accumulator range, no activation;
and the cases it must refuse (float32 not exact, accumulator types too narrow)."""

from __future__ import annotations

import numpy as np
import pytest

from bnn2hw.sim.datatypes import int_type
from bnn2hw.sim.kernels.float_gemm import AffineGemm, single_threaded_blas


def reference(x, rows, xnor, input_type, weight_type, thresholds, act_val, output_type):
    if xnor:
        acc = (x[:, None, :] == rows[None, :, :]).sum(axis=-1)
    else:
        xs = 2 * x.astype(np.int64) - 1 if input_type.bipolar else x.astype(np.int64)
        acc = xs @ weight_type.from_bits(rows).T
    if thresholds is None:
        return output_type.wrap(acc)
    return act_val + (thresholds[None, :, :] <= acc[:, :, None]).sum(axis=-1)


CASES = [  # xnor, input, weights, threshold steps (0: none), act_val, output
    (True, "BINARY", "BINARY", 1, 0, "BINARY"),
    (True, "BINARY", "BINARY", 0, 0, "INT12"),
    (False, "UINT8", "BIPOLAR", 1, 0, "BINARY"),
    (False, "BIPOLAR", "INT2", 3, -2, "INT2"),
    (False, "INT4", "INT3", 15, 0, "UINT4"),
    (False, "UINT8", "INT2", 0, 0, "INT16"),
]


@pytest.mark.parametrize("xnor,itype,wtype,steps,act_val,otype", CASES)
def test_affine_gemm_equals_int64_arithmetic(xnor, itype, wtype, steps, act_val, otype):
    rng = np.random.default_rng(steps * 7 + len(itype))
    input_type, weight_type, output_type = int_type(itype), int_type(wtype), int_type(otype)
    mw, mh, r = 37, 11, 3000
    rows = rng.integers(0, 2 ** weight_type.bits, (mh, mw))
    lo, hi = (0, 1) if input_type.bits == 1 else (input_type.min, input_type.max)
    x = rng.integers(lo, hi + 1, (r, mw)).astype(np.int16)
    wide = int_type("INT24")
    thresholds = None
    if steps:
        span = np.abs(weight_type.from_bits(rows)).sum() * max(abs(lo), abs(hi)) + mw
        thresholds = np.sort(rng.integers(-span // 4, span // 4 + 1, (mh, steps)), axis=1)
        thresholds[0, :] = -10 ** 9  # far below every accumulator: always passed
        thresholds[1, -1] = 10 ** 9  # far above: never passed
    plan = AffineGemm.plan(rows, xnor, input_type, weight_type, [wide, wide], thresholds, act_val, output_type, np.int64)
    assert plan is not None
    with single_threaded_blas():
        got = plan.run(x)
    assert np.array_equal(got, reference(x, rows, xnor, input_type, weight_type, thresholds, act_val, output_type))


def test_affine_gemm_refuses_what_it_cannot_prove():
    rows = np.ones((4, 300), np.int64)
    u8, bipolar = int_type("UINT8"), int_type("BIPOLAR")
    narrow = int_type("INT8")  # 300·255 does not fit
    assert AffineGemm.plan(rows, False, u8, bipolar, [narrow, narrow], None, 0, narrow, np.int8) is None
    huge = int_type("INT32")
    wide_rows = np.full((2, 70_000), 1, np.int64)  # 70,000 · 255 ≥ 2**24: float32 sums not exact
    assert AffineGemm.plan(wide_rows, False, u8, bipolar, [huge, huge], None, 0, huge, np.int32) is None


def test_single_threaded_blas_restores_and_nests():
    a = np.ones((64, 64), np.float32)
    with single_threaded_blas():
        with single_threaded_blas():
            inner = a @ a
        outer = a @ a
    assert np.array_equal(inner, outer) and np.array_equal(a @ a, outer)
