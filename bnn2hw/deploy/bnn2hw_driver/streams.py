"""FINN datatypes and stream packing, reimplemented in numpy (``finn.util.data_packing``): the
``datatype`` names, bit patterns, and ``pack_stream`` / ``unpack_stream`` (see ``driver.py``).
"""

from __future__ import annotations

import numpy as np

from .common import DriverError

# ---- FINN datatypes and stream packing (finn.util.data_packing, reimplemented) ----

def datatype(name: str) -> tuple[int, bool, bool]:
    """(bits, signed, bipolar) of a FINN integer DataType name: BIPOLAR, BINARY, UINTn, INTn."""
    name = name.replace("DataType[", "").strip("]'\"")
    if name == "BIPOLAR":
        return 1, False, True
    if name == "BINARY":
        return 1, False, False
    for prefix, signed in (("UINT", False), ("INT", True)):
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            return int(name[len(prefix):]), signed, False
    raise DriverError(f"datatype {name} is not supported by this driver (integer types only)")


def value_range(name: str) -> tuple[int, int]:
    bits, signed, bipolar = datatype(name)
    return (-1, 1) if bipolar else (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def to_patterns(values: np.ndarray, name: str) -> np.ndarray:
    """Integer values -> unsigned bit patterns (BIPOLAR: -1 -> 0, +1 -> 1; INTn: two's complement)."""
    (bits, _, bipolar), values = datatype(name), np.asarray(values).astype(np.int64)
    return (values + 1) // 2 if bipolar else values & ((1 << bits) - 1)


def from_patterns(patterns: np.ndarray, name: str) -> np.ndarray:
    bits, signed, bipolar = datatype(name)
    patterns = patterns.astype(np.int64)
    return 2 * patterns - 1 if bipolar else patterns - ((patterns >> (bits - 1)) << bits) if signed else patterns


def pack_stream(folded: np.ndarray, name: str) -> np.ndarray:
    """(..., k) values -> uint8 (..., ceil(k*bits/8)): the input DMA's bytes (module docstring)."""
    bits = datatype(name)[0]
    patterns = to_patterns(folded, name)
    if bits == 8:
        return patterns.astype(np.uint8)
    planes = ((patterns[..., None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(patterns.shape[:-1] + (-1,))
    return np.packbits(planes, axis=-1, bitorder="little")


def unpack_stream(packed: np.ndarray, name: str, folded_shape) -> np.ndarray:
    """uint8 (..., bytes) -> int64 values of shape ``folded_shape``; inverse of ``pack_stream``."""
    bits, packed, k = datatype(name)[0], np.asarray(packed, dtype=np.uint8), int(folded_shape[-1])
    if bits == 8:
        patterns = packed[..., :k].astype(np.int64)
    else:
        flat = np.unpackbits(packed, axis=-1, bitorder="little")[..., :k * bits]
        planes = flat.reshape(flat.shape[:-1] + (k, bits)).astype(np.int64)
        patterns = (planes << np.arange(bits)).sum(axis=-1)
    return from_patterns(patterns, name).reshape(tuple(folded_shape))
