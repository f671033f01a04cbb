"""bnn2hw.sim.packing reproduces finn.util.data_packing bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from qonnx.core.datatype import DataType

from bnn2hw.sim.datatypes import int_type
from bnn2hw.sim.packing import pack_bit_rows, pack_words, packed_bytearray, unpack_bit_rows, unpack_words, words_to_hex

finn_packing = pytest.importorskip("finn.util.data_packing")

CASES = [("BINARY", 7), ("BIPOLAR", 13), ("UINT8", 3), ("INT3", 5), ("INT12", 9), ("UINT2", 40)]


def random_values(name: str, shape, rng) -> np.ndarray:
    t = int_type(name)
    if t.bipolar:
        return rng.choice([-1, 1], size=shape)
    return rng.integers(t.min, t.max + 1, size=shape)


@pytest.mark.parametrize("name,elems", CASES)
@pytest.mark.parametrize("reverse_inner", [True, False])
def test_words_match_finn_hex_strings(name, elems, reverse_inner):
    rng = np.random.default_rng(elems)
    values = random_values(name, (4, 3, elems), rng)
    t = int_type(name)
    width = -(-t.bits * elems // 4) * 4  # FINN pads hex strings to whole digits
    ours = words_to_hex(pack_words(t.to_bits(values), t.bits, reverse_inner), width)
    theirs = finn_packing.pack_innermost_dim_as_hex_string(values.astype(np.float32), DataType[name], width,
                                                           reverse_inner=reverse_inner)
    assert np.array_equal(ours, theirs)
    back = unpack_words(pack_words(t.to_bits(values), t.bits, reverse_inner), t.bits, elems, reverse_inner)
    assert np.array_equal(t.from_bits(back), values)


@pytest.mark.parametrize("name,elems", CASES)
@pytest.mark.parametrize("reverse_endian", [True, False])
def test_bytes_match_finnpy_to_packed_bytearray(name, elems, reverse_endian):
    rng = np.random.default_rng(100 + elems)
    values = random_values(name, (2, 5, elems), rng)
    t = int_type(name)
    ours = packed_bytearray(t.to_bits(values), t.bits, reverse_inner=True, reverse_endian=reverse_endian)
    theirs = finn_packing.finnpy_to_packed_bytearray(values.astype(np.float32), DataType[name], reverse_inner=True,
                                                     reverse_endian=reverse_endian)
    assert np.array_equal(ours, theirs)


def test_bit_rows_round_trip_and_order():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, size=(6, 130)).astype(np.uint8)
    limbs = pack_bit_rows(bits)
    assert limbs.shape == (6, 3) and limbs.dtype == np.uint64
    assert np.array_equal(unpack_bit_rows(limbs, 130), bits)
    assert int(limbs[0, 1]) & 1 == bits[0, 64]  # bit i -> limb i // 64, bit i % 64
