"""The on-chip posterior sampler, defined once: LFSRs, their seeds, when they step, which bits flip a weight.

This is the living definition the RTL sampler is built against; Verilator checks it pass by pass.

LFSR. A 32-bit Fibonacci LFSR with characteristic polynomial x^32 + x^22 + x^2 + x + 1 (taps 32,
22, 2, 1; primitive, so every nonzero state lies on one cycle of period 2^32 − 1): the bit
sequence a_t obeys a_{t+32} = a_t ^ a_{t+1} ^ a_{t+2} ^ a_{t+22}; the register r holds
a_t .. a_{t+31} with bit i of r = a_{t+i}; one step is
``r <- (r >> 1) | ((r[0] ^ r[1] ^ r[2] ^ r[22]) << 31)`` (``lfsr_step``). Each weight-memory line
read advances a lane by 32 steps at once (``LINE_STEPS``; in RTL a combinational unrolling, each
new bit an XOR of old ones), so the register then holds the next 32 bits of the sequence,
disjoint from the previous line's; 32 and 2^32 − 1 are coprime, so the period in lines is also
2^32 − 1.

Lanes. A weight-memory line holds E = PE·SIMD elements; element (pe, s) has index
e = pe·SIMD + s (its position in the line: bits [e·B, (e+1)·B) of the probability line, as the
weight line's bit e). G = 32 // B elements share a lane: element e uses lane e // G and takes
``u_e = (r_lane >> ((e % G)·B)) & (2^B − 1)`` (bit j of u is a_{.+(e%G)·B+j}); a layer has
ceil(E / G) lanes (32-bit registers: ≈ E·B flip-flops, as many as random bits a line needs).

Seeds. Lane ``lane`` of MVAU layer ``layer`` (its index among the accelerator's MVAUs in graph
order = the binary layer of ``posterior.npz``) starts from ``lane_seed(seed, layer, lane)``:
x = (seed·0x9E3779B1 + layer·0x85EBCA77 + lane·0xC2B2AE3D + 0x27D4EB2F) mod 2^32, then murmur3's
fmix32 (x ^= x>>16; x *= 0x85EBCA6B; x ^= x>>13; x *= 0xC2B2AE35; x ^= x>>16; all mod 2^32), and
1 where that gives 0 (fmix32 is a bijection with fmix32(0) = 0: exactly one x is remapped), so no
lane starts in the all-zero state. ``seed`` is ``posterior.json``'s (the run's seed). The RTL
takes the seeds as constants from ``lane_seeds``.

Advance rule. At the start of every image the lanes are reset to their seeds; the image is run K
times (passes k = 0..K−1). In pass k the read of line l (address nf·SF + sf, 0 ≤ l < WMEM)
first advances the lane by one line (32 steps), then reads u: the lane's register for (k, l) is
r = A^(32·(k·WMEM + l + 1)) · seed (A: one step). A layer that reads its weight memory more than
once per pass (a convolution: once per output pixel) sees the same r for a line in every pixel
of a pass (hardware: keep the register at the pass start and restore it at each pixel). Every
image therefore sees the same K weight samples, whatever came before it (a frame is reproducible
on its own, also through ``--limit``, stalls and a rejected UART frame).

Flip. Element e of line l in pass k flips the mode's weight bit when ``u_e < P_e``
(unsigned, P the element's B-bit code from ``bnn2hw.posterior_memory``): w = mode XOR (u < P).
A P of 0 never flips.

Decorrelation (measured; ``tests/sim/test_sampler.py`` repeats it on a smaller fold). Within a
lane, the G slots of one line are disjoint bits of one 32-bit window of an m-sequence (uniform
over the nonzero windows), and the lane's next line is the next disjoint window; lanes are phases
of the same m-sequence at hashed offsets. Measured on SFC's first layer (784x256) folded PE = 16,
SIMD = 49 (E = 784 elements, 98 lanes at B = 4), 300 passes (n = 76,800 lines): the largest
|Pearson r| of flip decisions over all 306,936 element pairs of a line is 0.0187 at P = 8 (flip
rate 1/2), 0.0170 at P = 1 (1/16); over all 614,656 pairs (element of line l, element of line
l + 1) 0.0181 (P = 8), 0.0177 (P = 1); same element in passes k and k + 1: 0.0129. Independent
decisions give max |r| ≈ sqrt(2·ln(2·pairs))/sqrt(n) ≈ 0.019 for these counts: the measured
correlations are at the level of sampling noise. Two lanes' sequences overlap only if their
hashed phases fall within the K·WMEM·32 bits an image uses: probability about
2·K·WMEM·32 / 2^32 per pair (here, K = 20, WMEM = 256: 0.008 % per pair), and an overlap only correlates two
shifted copies of one stream.

Speed: ``lane_registers`` computes all K·WMEM registers of all lanes with jump-ahead (linear maps
over GF(2) applied by byte tables): O(sqrt(K·WMEM)) vectorized steps.
"""

from __future__ import annotations

import math

import numpy as np

WIDTH = 32
TAPS = (0, 1, 2, 22)        # register bits XORed into the new bit 31: x^32 + x^22 + x^2 + x + 1
LINE_STEPS = 32             # LFSR steps per weight-memory line read
MASK32 = 0xFFFFFFFF
SEED_MULTIPLIERS = (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D)
SEED_OFFSET = 0x27D4EB2F


def lfsr_step(state: int, taps=TAPS, width: int = WIDTH) -> int:
    """One step of the Fibonacci LFSR (scalar reference; ``taps`` are register bit indices)."""
    new = 0
    for t in taps:
        new ^= (state >> t) & 1
    return (state >> 1) | (new << (width - 1))


def fmix32(x: int) -> int:
    x &= MASK32
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & MASK32
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & MASK32
    return x ^ (x >> 16)


def lane_seed(seed: int, layer: int, lane: int) -> int:
    """The nonzero starting register of lane ``lane`` of MVAU layer ``layer`` (module docstring)."""
    a, b, c = SEED_MULTIPLIERS
    x = (int(seed) * a + int(layer) * b + int(lane) * c + SEED_OFFSET) & MASK32
    return fmix32(x) or 1


def lane_seeds(seed: int, layer: int, lanes: int) -> np.ndarray:
    return np.array([lane_seed(seed, layer, j) for j in range(lanes)], dtype=np.uint32)


def lanes_per_line(elements: int, bits: int) -> tuple[int, int]:
    """(G elements per lane, lanes) of a line of ``elements`` B-bit elements."""
    group = WIDTH // bits
    return group, -(-elements // group)


# --- GF(2) linear maps on 32-bit registers: a map is the images of the 32 basis vectors ----------

def _step_map() -> np.ndarray:
    return np.array([lfsr_step(1 << i) for i in range(WIDTH)], dtype=np.uint64)


def _apply_columns(columns: np.ndarray, state: int) -> int:
    out = 0
    for i in range(WIDTH):
        if (state >> i) & 1:
            out ^= int(columns[i])
    return out


def _compose(first: np.ndarray, then: np.ndarray) -> np.ndarray:
    """The map ``then ∘ first``."""
    return np.array([_apply_columns(then, int(c)) for c in first], dtype=np.uint64)


def step_power(n: int) -> np.ndarray:
    """A^n (n LFSR steps) as basis images, by repeated squaring."""
    result = np.array([1 << i for i in range(WIDTH)], dtype=np.uint64)
    power = _step_map()
    while n:
        if n & 1:
            result = _compose(result, power)
        power = _compose(power, power)
        n >>= 1
    return result


def byte_tables(columns: np.ndarray) -> np.ndarray:
    """(4, 256) uint32: the map applied to each byte value of each byte of the register."""
    tables = np.zeros((4, 256), dtype=np.uint32)
    for byte in range(4):
        for value in range(256):
            tables[byte, value] = _apply_columns(columns, value << (8 * byte))
    return tables


def apply_tables(tables: np.ndarray, states: np.ndarray) -> np.ndarray:
    """The linear map of ``tables`` on every uint32 register of ``states``."""
    s = states.astype(np.uint32, copy=False)
    return (tables[0][s & 0xFF] ^ tables[1][(s >> 8) & 0xFF] ^ tables[2][(s >> 16) & 0xFF]
            ^ tables[3][s >> 24])


def lane_registers(seeds: np.ndarray, lines: int) -> np.ndarray:
    """(lines, lanes) uint32: row t is every lane's register after t + 1 line advances from its seed."""
    seeds = np.asarray(seeds, dtype=np.uint32)
    if lines <= 0:
        return np.zeros((0, seeds.size), dtype=np.uint32)
    block = max(1, math.isqrt(lines))
    blocks = -(-lines // block)
    line_map = byte_tables(step_power(LINE_STEPS))
    block_map = byte_tables(step_power(LINE_STEPS * block))
    starts = np.empty((blocks, seeds.size), dtype=np.uint32)
    starts[0] = seeds
    for j in range(1, blocks):
        starts[j] = apply_tables(block_map, starts[j - 1])
    out = np.empty((block, blocks, seeds.size), dtype=np.uint32)
    current = starts
    for i in range(block):
        current = apply_tables(line_map, current)
        out[i] = current
    return out.transpose(1, 0, 2).reshape(blocks * block, seeds.size)[:lines]


def uniforms(seed: int, layer: int, passes: int, wmem: int, elements: int, bits: int) -> np.ndarray:
    """(passes, WMEM, E) u values (uint16) of a layer, element index e = pe·SIMD + s (line bit order)."""
    group, lanes = lanes_per_line(elements, bits)
    registers = lane_registers(lane_seeds(seed, layer, lanes), passes * wmem)
    e = np.arange(elements)
    shifts = ((e % group) * bits).astype(np.uint32)
    u = (registers[:, e // group] >> shifts) & np.uint32((1 << bits) - 1)
    return u.astype(np.uint16).reshape(passes, wmem, elements)


def flip_decisions(codes: np.ndarray, seed: int, layer: int, passes: int, bits: int) -> np.ndarray:
    """(passes, WMEM, E) bool: u < P for a layer's probability lines ``codes`` (WMEM, E), element order."""
    codes = np.asarray(codes)
    wmem, elements = codes.shape
    return uniforms(seed, layer, passes, wmem, elements, bits) < codes[None].astype(np.uint16)
