"""The on-chip sampler's definition (bnn2hw.sim.sampler): LFSR period, seeds, line advance, u bits,
flip rates and the decorrelation of flip decisions between elements, lines and passes."""

from __future__ import annotations

import numpy as np
import pytest

from bnn2hw.sim import sampler
from bnn2hw.sim.sampler import (
    LINE_STEPS, MASK32, SEED_MULTIPLIERS, SEED_OFFSET, flip_decisions, fmix32, lane_registers, lane_seed,
    lane_seeds, lanes_per_line, lfsr_step, uniforms,
)


def test_small_lfsr_instance_has_the_full_period_and_never_hits_zero():
    """The same Fibonacci form at 8 bits (x^8 + x^6 + x^5 + x^4 + 1: taps 0, 4, 5, 6) cycles through all 255
    nonzero states."""
    state, seen = 1, set()
    for _ in range(255):
        seen.add(state)
        state = lfsr_step(state, taps=(0, 4, 5, 6), width=8)
        assert state != 0
    assert state == 1 and len(seen) == 255


def _polymulmod(a: int, b: int, poly: int, degree: int) -> int:
    out = 0
    while b:
        if b & 1:
            out ^= a
        b >>= 1
        a <<= 1
        if (a >> degree) & 1:
            a ^= poly
    return out


def _x_power(n: int, poly: int, degree: int) -> int:
    result, base = 1, 2
    while n:
        if n & 1:
            result = _polymulmod(result, base, poly, degree)
        base = _polymulmod(base, base, poly, degree)
        n >>= 1
    return result


def test_the_32_bit_polynomial_is_primitive_so_the_period_is_2_32_minus_1():
    poly = 1 << 32
    for tap in sampler.TAPS:          # a_{t+32} = XOR of a_{t+tap}: x^32 + sum x^tap
        poly |= 1 << tap
    assert poly == (1 << 32) | (1 << 22) | 0b111
    order = 2 ** 32 - 1
    assert _x_power(order, poly, 32) == 1
    for prime in (3, 5, 17, 257, 65537):   # 2^32 - 1 = 3·5·17·257·65537
        assert _x_power(order // prime, poly, 32) != 1


@pytest.mark.parametrize("lines", [1, 7, 37, 100])
def test_a_line_advance_is_32_single_steps_from_the_seed(lines):
    seeds = lane_seeds(5, 2, 3)
    registers = lane_registers(seeds, lines)
    for lane, seed in enumerate(seeds):
        state = int(seed)
        for t in range(lines):
            for _ in range(LINE_STEPS):
                state = lfsr_step(state)
            assert int(registers[t, lane]) == state


def test_seeds_are_nonzero_and_differ_per_layer_and_lane():
    seeds = np.concatenate([lane_seeds(0, layer, 512) for layer in range(4)])
    assert np.all(seeds != 0) and len(np.unique(seeds)) == seeds.size
    assert not np.array_equal(lane_seeds(0, 0, 16), lane_seeds(1, 0, 16))
    # the one input fmix32 maps to 0 is remapped to 1
    assert fmix32(0) == 0
    zero_seed = (-SEED_OFFSET * pow(SEED_MULTIPLIERS[0], -1, 1 << 32)) & MASK32
    assert lane_seed(zero_seed, 0, 0) == 1


@pytest.mark.parametrize("bits", [1, 3, 4, 8])
def test_u_is_the_lanes_bit_slices_in_element_order(bits):
    elements, wmem, passes = 21, 5, 2
    group, lanes = lanes_per_line(elements, bits)
    assert group == 32 // bits and lanes == -(-elements // group)
    u = uniforms(9, 1, passes, wmem, elements, bits)
    registers = lane_registers(lane_seeds(9, 1, lanes), passes * wmem)
    for k in range(passes):
        for line in range(wmem):
            reg = registers[k * wmem + line]
            expected = [(int(reg[e // group]) >> ((e % group) * bits)) & ((1 << bits) - 1) for e in range(elements)]
            assert u[k, line].tolist() == expected


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_the_flip_rate_of_each_code_is_p_over_2_to_the_b_and_zero_never_flips(bits):
    codes_row = np.arange((1 << (bits - 1)) + 1)                     # every code 0 .. 2^(B-1)
    elements = len(codes_row) * 8
    codes = np.tile(np.repeat(codes_row, 8), (16, 1))                  # (WMEM 16, E)
    flips = flip_decisions(codes, 3, 0, 400, bits)
    n = flips.shape[0] * flips.shape[1] * 8
    for i, code in enumerate(codes_row):
        rate = flips[:, :, i * 8:(i + 1) * 8].mean()
        p = code / (1 << bits)
        assert abs(rate - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-12, (code, rate, p)
    assert not flips[:, :, :8].any()                                   # P = 0: deterministic
    assert flips.shape == (400, 16, elements)


def _max_abs_correlation(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    a = a - a.mean(0)
    b = b - b.mean(0)
    c = (a.T @ b) / np.sqrt(np.outer((a * a).sum(0), (b * b).sum(0)))
    return c, a.shape[0]


@pytest.mark.parametrize("code", [1, 8])
def test_flip_decisions_are_decorrelated_between_elements_lines_and_passes(code):
    """Max |Pearson r| over all pairs stays within the sampling noise of independent decisions
    (sqrt(2 ln(2·pairs)) / sqrt(n) is its expected size; 1.3 times that is the bound)."""
    pe, simd, wmem, passes, bits = 4, 16, 32, 1000, 4
    flips = flip_decisions(np.full((wmem, pe * simd), code), 0, 1, passes, bits).astype(np.float64)
    e = pe * simd

    def bound(pairs, n):
        return 1.3 * np.sqrt(2 * np.log(2 * pairs)) / np.sqrt(n)

    within, n = _max_abs_correlation(flips.reshape(-1, e), flips.reshape(-1, e))
    np.fill_diagonal(within, 0)
    assert np.abs(within).max() < bound(e * (e - 1) / 2, n)
    adjacent, n = _max_abs_correlation(flips[:, :-1].reshape(-1, e), flips[:, 1:].reshape(-1, e))
    assert np.abs(adjacent).max() < bound(e * e, n)
    passes_r, n = _max_abs_correlation(flips[:-1].reshape(-1, e), flips[1:].reshape(-1, e))
    assert np.abs(np.diag(passes_r)).max() < bound(e, n)
