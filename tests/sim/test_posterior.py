"""The on-chip ensemble in the simulator (bnn2hw.sim.posterior): probability memories in FINN's
weight-memory layout, flips in memory order, sampled passes, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from bnn2hw.posterior_memory import Posterior
from bnn2hw.sim import layout
from bnn2hw.sim.accelerator import Accelerator
from bnn2hw.sim.datatypes import SimError
from bnn2hw.sim.kernels.mvau import MVAU
from bnn2hw.sim.posterior import (
    layer_samplers, memory_image, mvau_matrix, onchip_flips, probability_lines, run_passes,
)


def test_probability_lines_follow_the_weight_memory_order():
    mw, mh, pe, simd, bits = 12, 8, 2, 3, 4
    codes = np.arange(mw * mh).reshape(mw, mh) % 9                    # codes 0..8 fit 4 bits
    lines = probability_lines(codes, pe, simd, bits)
    sf_count = mw // simd
    assert lines.shape == (mw * mh // (pe * simd), pe * simd)
    for nf in range(mh // pe):
        for sf in range(sf_count):
            for p in range(pe):
                for s in range(simd):
                    e = p * simd + s                                     # element (pe, s) of the line
                    assert lines[nf * sf_count + sf, pe * simd - 1 - e] == codes[sf * simd + s, nf * pe + p]
    assert np.array_equal(layout.rows_from_weight_lines(lines, pe, simd, mh, mw), codes.T)
    image = memory_image(lines, bits).split()
    value = int(image[5], 16)
    for e in range(pe * simd):                                           # element e at bits [e·B, e·B + B)
        assert (value >> (e * bits)) & 0xF == lines[5, pe * simd - 1 - e]


def test_conv_arrays_take_finns_lowered_orientation():
    w = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2)                    # (OFM, IFM, kh, kw)
    m = mvau_matrix(w)
    assert m.shape == (12, 2)
    assert m[(1 * 2 + 0) * 3 + 2, 1] == w[1, 2, 1, 0]                    # row (kh, kw, ifm), column ofm


def _posterior_of(accelerator: Accelerator, bits: int, seed: int = 0, code=None) -> Posterior:
    """A posterior whose modes are the build's weight bits, every code ``code`` (or one element each)."""
    flips, modes = [], []
    for k in accelerator.kernels:
        if isinstance(k, MVAU):
            w = np.asarray(k.node.constant(1)).astype(np.int64)
            modes.append(((w + 1) // 2 if k.weight_type.bipolar else w).astype(np.uint8))
            flips.append(np.full(w.shape, code if code is not None else 0, dtype=np.uint8))
    return Posterior(bits, seed, "bayesbinn", tuple(flips), tuple(modes))


def test_one_uncertain_weight_flips_only_its_own_memory_element(tfc_sim_build):
    accelerator = Accelerator.load(tfc_sim_build / "hw")
    posterior = _posterior_of(accelerator, bits=2)
    row, col = 5, 3
    for f in posterior.flips:
        f[row, col] = 2                                                  # P = 2^(B-1): a fair coin
    samplers = layer_samplers(accelerator, posterior)
    flips = onchip_flips(samplers, posterior, passes=64)
    for s, f in zip(samplers, flips):
        k = s.kernel
        sf_count = k.mw // k.simd
        line = (col // k.pe) * sf_count + row // k.simd
        element = (col % k.pe) * k.simd + row % k.simd
        others = f.copy()
        others[:, line, element] = False
        assert not others.any()
        assert 0 < f[:, line, element].sum() < 64
        # the weight the MVAU computes with in a flipped pass is that one weight, flipped
        pass_k = int(np.argmax(f[:, line, element]))
        sampled = s.mode_lines ^ f[pass_k][:, ::-1].astype(s.mode_lines.dtype)
        rows = layout.rows_from_weight_lines(sampled, k.pe, k.simd, k.mh, k.mw)
        mode_rows = layout.rows_from_weight_lines(s.mode_lines, k.pe, k.simd, k.mh, k.mw)
        assert np.argwhere(rows != mode_rows).tolist() == [[col, row]]


def test_passes_with_no_uncertain_weight_are_the_mode_network_and_the_mode_comes_back(tfc_sim_build):
    accelerator = Accelerator.load(tfc_sim_build / "hw")
    images = np.random.default_rng(0).integers(0, 256, (40, 1, 8, 8), dtype=np.uint8)
    mode_scores = accelerator.run(images).scores
    posterior = _posterior_of(accelerator, bits=4)
    samplers = layer_samplers(accelerator, posterior)
    members = run_passes(accelerator, images, samplers, onchip_flips(samplers, posterior, 3))
    assert all(np.array_equal(m, mode_scores) for m in members)
    noisy = _posterior_of(accelerator, bits=4, code=8)
    samplers = layer_samplers(accelerator, noisy)
    members = run_passes(accelerator, images, samplers, onchip_flips(samplers, noisy, 2))
    assert not np.array_equal(members[0], members[1])
    assert np.array_equal(accelerator.run(images).scores, mode_scores)


def test_the_samples_change_with_the_seed(tfc_sim_build):
    """Mutant-style: a sampler that ignored its seed (or the layer index) would pass the tests above."""
    accelerator = Accelerator.load(tfc_sim_build / "hw")
    images = np.random.default_rng(1).integers(0, 256, (40, 1, 8, 8), dtype=np.uint8)
    a, b = (_posterior_of(accelerator, bits=4, seed=s, code=4) for s in (0, 1))
    samplers = layer_samplers(accelerator, a)
    fa, fb = onchip_flips(samplers, a, 2), onchip_flips(samplers, b, 2)
    assert all(not np.array_equal(x, y) for x, y in zip(fa, fb))
    assert not np.array_equal(run_passes(accelerator, images, samplers, fa)[0],
                              run_passes(accelerator, images, samplers, fb)[0])
    assert all(np.array_equal(x, y) for x, y in zip(fa, onchip_flips(samplers, a, 2)))   # deterministic


def test_a_posterior_of_another_network_is_refused(tfc_sim_build):
    accelerator = Accelerator.load(tfc_sim_build / "hw")
    posterior = _posterior_of(accelerator, bits=4)
    posterior.modes[0][0, 0] ^= 1                                         # one weight not the build's
    with pytest.raises(SimError, match="not posterior layer 0's mode"):
        layer_samplers(accelerator, posterior)
    short = Posterior(4, 0, "bayesbinn", posterior.flips[:-1], posterior.modes[:-1])
    with pytest.raises(SimError, match="MVAU layers"):
        layer_samplers(accelerator, short)
