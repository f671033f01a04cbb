"""FINN's stream-word packing, reimplemented in numpy (finn.util.data_packing, finn-plus 1.6.1).

Contract:
* A stream word holds ``k`` elements of ``b`` bits. FINN streams are packed with the innermost
  dimension reversed (``reverse_inner=True`` in ``pack_innermost_dim_as_hex_string`` and
  ``finnpy_to_packed_bytearray``): element ``i`` of a word sits at bits ``[i·b, (i+1)·b)``,
  element 0 at the least significant end. With ``reverse_inner=False`` element 0 is the most
  significant (the order of FINN's weight ``.dat`` lines).
* ``pack_words(patterns, bits, reverse_inner)`` packs the innermost axis of non-negative bit
  patterns (see ``IntType.to_bits``) into words, each stored as little-endian uint64 limbs
  ``(..., limbs)``; ``unpack_words`` is its inverse.
* ``words_to_hex`` formats such words exactly as ``pack_innermost_dim_as_hex_string`` does
  (``0x`` prefix, zero-padded to ``pad_to_bits``); ``packed_bytearray`` returns the bytes of
  ``finnpy_to_packed_bytearray`` (big-endian words padded to whole bytes, ``reverse_endian``
  flips the byte order of each word — what the PYNQ driver sends to the input DMA).
* ``pack_bit_rows(bits)`` packs 0/1 values along the last axis into uint64 limbs, bit ``i`` of
  the row at bit ``i % 64`` of limb ``i // 64``: the concatenation of consecutive stream words of
  1-bit elements, which is what the XNOR-popcount kernels consume.
"""

from __future__ import annotations

import numpy as np

LIMB = 64


def pack_bit_rows(bits: np.ndarray) -> np.ndarray:
    """0/1 values (..., n) -> uint64 limbs (..., ceil(n/64)); padding bits are 0."""
    bits = np.ascontiguousarray(bits, dtype=np.uint8)
    n = bits.shape[-1]
    limbs = -(-n // LIMB)
    packed = np.packbits(bits, axis=-1, bitorder="little")
    pad = limbs * 8 - packed.shape[-1]
    if pad:
        packed = np.concatenate([packed, np.zeros(packed.shape[:-1] + (pad,), np.uint8)], axis=-1)
    return np.ascontiguousarray(packed).view("<u8")


def unpack_bit_rows(limbs: np.ndarray, n: int) -> np.ndarray:
    """Inverse of ``pack_bit_rows``: uint64 limbs -> 0/1 uint8 values (..., n)."""
    as_bytes = np.ascontiguousarray(limbs, dtype="<u8").view(np.uint8)
    return np.unpackbits(as_bytes, axis=-1, bitorder="little")[..., :n]


def _container_bytes(bits: int) -> int:
    return 1 if bits <= 8 else 2 if bits <= 16 else 4 if bits <= 32 else 8


def _element_bits(patterns: np.ndarray, bits: int) -> np.ndarray:
    """(..., k) patterns -> (..., k*bits) 0/1 uint8, element bits least significant first."""
    size = _container_bytes(bits)
    little = np.asarray(patterns).astype(f"<u{size}")[..., None].view(np.uint8)       # (..., k, size)
    every = np.unpackbits(little, axis=-1, bitorder="little")[..., :bits]            # (..., k, bits)
    return every.reshape(every.shape[:-2] + (-1,))


def pack_words(patterns: np.ndarray, bits: int, reverse_inner: bool = True) -> np.ndarray:
    """Pack the innermost axis (one word) of bit patterns into uint64 limbs (see module docstring)."""
    patterns = np.asarray(patterns)
    if not reverse_inner:
        patterns = patterns[..., ::-1]
    if bits == 8 * _container_bytes(bits):  # byte-aligned elements: the word is their little-endian bytes
        data = np.ascontiguousarray(patterns.astype(f"<u{bits // 8}")).view(np.uint8)
        pad = -data.shape[-1] % 8
        if pad:
            data = np.concatenate([data, np.zeros(data.shape[:-1] + (pad,), np.uint8)], axis=-1)
        return np.ascontiguousarray(data).view("<u8")
    return pack_bit_rows(_element_bits(patterns, bits))


def unpack_words(limbs: np.ndarray, bits: int, elems: int, reverse_inner: bool = True) -> np.ndarray:
    """uint64 limbs of words -> bit patterns (..., elems) int64; inverse of ``pack_words``."""
    size = _container_bytes(bits)
    if bits == 8 * size:
        data = np.ascontiguousarray(limbs, dtype="<u8").view(np.uint8)[..., :elems * size]
        patterns = np.ascontiguousarray(data).view(f"<u{size}").astype(np.int64)
        return patterns if reverse_inner else patterns[..., ::-1]
    flat = unpack_bit_rows(limbs, bits * elems).reshape(limbs.shape[:-1] + (elems, bits))
    padded = np.zeros(flat.shape[:-1] + (8 * size,), np.uint8)
    padded[..., :bits] = flat
    patterns = np.packbits(padded, axis=-1, bitorder="little").view(f"<u{size}")[..., 0].astype(np.int64)
    return patterns if reverse_inner else patterns[..., ::-1]


def words_to_hex(limbs: np.ndarray, pad_to_bits: int, prefix: str = "0x") -> np.ndarray:
    """Hex strings of packed words, as ``pack_innermost_dim_as_hex_string`` writes them."""
    digits = -(-pad_to_bits // 4)
    flat = np.asarray(limbs, dtype=np.uint64).reshape(-1, limbs.shape[-1])
    out = []
    for row in flat:
        value = 0
        for i, limb in enumerate(row.tolist()):
            value |= int(limb) << (LIMB * i)
        out.append(prefix + format(value, "x").zfill(digits))
    return np.array(out, dtype=object).reshape(limbs.shape[:-1])


def packed_bytearray(patterns: np.ndarray, bits: int, reverse_inner: bool = True,
                     reverse_endian: bool = False) -> np.ndarray:
    """Bytes of ``finnpy_to_packed_bytearray``: (..., k) patterns -> uint8 (..., ceil(k·bits/8))."""
    nbytes = -(-(np.shape(patterns)[-1] * bits) // 8)
    little = np.ascontiguousarray(pack_words(patterns, bits, reverse_inner)).view(np.uint8)[..., :nbytes]
    return little if reverse_endian else little[..., ::-1]
