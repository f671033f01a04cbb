"""Integer stream and register types of the dataflow graph (FINN/qonnx DataType names), in numpy.

Contract: ``int_type(name)`` parses the names FINN writes into node attributes and tensor
annotations — ``BINARY``, ``BIPOLAR``, ``UINTn``, ``INTn`` — into an ``IntType``; any other
name (floats, fixed point, ternary) raises ``SimError`` naming it. An ``IntType`` knows its
width, its value range, how its values are stored as bits (BIPOLAR −1/+1 as bit 0/1, signed
integers as two's complement) and how a hardware register of that type wraps a value that
does not fit (``wrap``: modulo 2**bits, then re-signed — what ap_int / Verilog registers do).
No qonnx import: this is the sim's own, deliberately small, reimplementation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np


class SimError(Exception):
    """Something the simulator cannot run: the message names the node, tensor or file."""


@dataclass(frozen=True)
class IntType:
    name: str
    bits: int
    signed: bool
    bipolar: bool = False

    @property
    def min(self) -> int:
        if self.bipolar:
            return -1
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        if self.bipolar:
            return 1
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def fits(self, values: np.ndarray) -> np.ndarray:
        """Boolean mask: which values this type can hold (BIPOLAR: exactly −1 or +1)."""
        if self.bipolar:
            return (values == -1) | (values == 1)
        return (values >= self.min) & (values <= self.max)

    def count_misfits(self, values: np.ndarray) -> int:
        return int(values.size - np.count_nonzero(self.fits(values)))

    def wrap(self, values: np.ndarray) -> np.ndarray:
        """The value a register of this type holds after being assigned ``values`` (int64)."""
        if self.bipolar:
            raise SimError("a BIPOLAR register does not wrap; it is a 1-bit stream encoding")
        v = np.asarray(values, dtype=np.int64) & ((1 << self.bits) - 1)
        if self.signed:
            v = np.where(v >= (1 << (self.bits - 1)), v - (1 << self.bits), v)
        return v

    def to_bits(self, values: np.ndarray) -> np.ndarray:
        """Stored bit pattern (non-negative int64) of each value: two's complement, BIPOLAR +1 -> 1."""
        values = np.asarray(values)
        if self.bipolar:
            return (values > 0).astype(np.int64)
        if values.dtype.kind == "u" and values.dtype.itemsize * 8 <= self.bits:
            return values  # unsigned and no wider than the type: already its own bit pattern
        return values.astype(np.int64) & ((1 << self.bits) - 1)

    def from_bits(self, patterns: np.ndarray) -> np.ndarray:
        """Inverse of ``to_bits``."""
        patterns = np.asarray(patterns, dtype=np.int64)
        if self.bipolar:
            return 2 * patterns - 1
        return self.wrap(patterns) if self.signed else patterns


_NAME = re.compile(r"^(U?)INT(\d+)$")


def int_type(name: str) -> IntType:
    """Parse a FINN datatype name (see module docstring)."""
    if name == "BINARY":
        return IntType("BINARY", 1, False)
    if name == "BIPOLAR":
        return IntType("BIPOLAR", 1, False, bipolar=True)
    match = _NAME.match(name or "")
    if not match:
        raise SimError(f"datatype {name!r} is not an integer type the simulator supports")
    bits = int(match.group(2))
    return IntType(name, bits, signed=match.group(1) == "")


def smallest_type_for(lo: int, hi: int) -> IntType:
    """Smallest UINTn (lo >= 0) or INTn holding [lo, hi]."""
    if lo >= 0:
        return int_type(f"UINT{max(int(hi).bit_length(), 1)}")
    return int_type(f"INT{max((-int(lo) - 1).bit_length(), int(hi).bit_length()) + 1}")
