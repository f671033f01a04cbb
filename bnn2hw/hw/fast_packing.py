"""Vectorised drop-ins for finn-plus 1.6.1's hex packing of weights and thresholds.

Contract: ``array2hexstring`` and ``pack_innermost_dim_as_hex_string`` here take the arguments of
their namesakes in ``finn.util.data_packing`` (finn-plus 1.6.1) and return identical results
(same strings; for the latter an ndarray of the same shape and ``<U`` dtype); they raise the same
errors because every input they do not handle exactly (floating-point datatypes, values the
datatype does not allow, words wider than ``pad_to_nbits``, widths that are not whole hex digits,
empty arrays, odd prefixes) is passed to FINN's own function. FINN packs value by value through
``bitstring`` (about 13 µs a value: 39 s of LFC's code generation for its 2.9 million weights);
here a whole tensor is packed at once with numpy (LFC's code generation: 0.2 s).

``install()`` puts them into ``finn.util.data_packing`` and into every loaded ``finn`` module that
imported them by name (``from finn.util.data_packing import ...``); modules imported later get
them from ``finn.util.data_packing``. ``uninstall()`` puts FINN's functions back (for tests).
``bnn2hw.hw.finn_env.import_finn`` calls ``install()`` only when finn-plus is 1.6.1.
"""

from __future__ import annotations

import sys

import numpy as np
from qonnx.core.datatype import DataType

import finn.util.data_packing as data_packing

PATCHED_NAMES = ("array2hexstring", "pack_innermost_dim_as_hex_string")
# FINN's functions, taken before any patching (re-importing this module must not take ours)
ORIGINAL = {name: getattr(getattr(data_packing, name), "finn_original", getattr(data_packing, name))
            for name in PATCHED_NAMES}
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NIBBLE_WEIGHTS = np.array([8, 4, 2, 1], dtype=np.uint8)
_MAX_FAST_BITS = 62  # values go through int64


def _integer_codes(values: np.ndarray, dtype) -> np.ndarray | None:
    """The ``bw``-bit two's-complement codes (uint64) of float32 ``values`` as FINN packs them, or
    None where FINN's value-by-value path must decide (float types, values not allowed)."""
    if dtype == DataType["BIPOLAR"]:
        values, dtype = (values + 1) / 2, DataType["BINARY"]
    bw = dtype.bitwidth()
    if bw > _MAX_FAST_BITS:
        return None
    if dtype.is_fixed_point():
        values, dtype = values / dtype.scale_factor(), DataType["INT" + str(bw)]
    elif not dtype.is_integer():
        return None
    if not np.all(dtype.allowed(values)):
        return None
    ints = values.astype(np.int64)  # int(val) of an allowed (integral) value
    low, high = (-(1 << (bw - 1)), 1 << (bw - 1)) if dtype.signed() else (0, 1 << bw)
    if ints.size and (ints.min() < low or ints.max() >= high):
        return None  # bitstring would refuse the value; let FINN raise
    return ints.astype(np.uint64) & np.uint64((1 << bw) - 1)


def _hex_rows(codes: np.ndarray, bw: int, pad_to_nbits: int, prefix: str) -> np.ndarray:
    """Rows of codes (R, n) -> (R,) ``<U`` strings: prefix + big-endian hex of the codes laid out
    first code most significant, zero-extended on the left to ``pad_to_nbits`` bits."""
    rows, n = codes.shape
    shifts = np.arange(bw - 1, -1, -1, dtype=np.uint64)
    bits = np.zeros((rows, pad_to_nbits), dtype=np.uint8)
    bits[:, pad_to_nbits - n * bw:] = ((codes[:, :, None] >> shifts) & np.uint64(1)).reshape(rows, n * bw)
    digits = _HEX_DIGITS[bits.reshape(rows, pad_to_nbits // 4, 4) @ _NIBBLE_WEIGHTS]
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    chars = np.ascontiguousarray(np.concatenate([np.broadcast_to(head, (rows, head.size)), digits], axis=1))
    width = chars.shape[1]
    return chars.view(f"S{width}").reshape(rows).astype(f"U{width}")


def _fast_path(values: np.ndarray, dtype, pad_to_nbits: int, reverse: bool, prefix: str) -> np.ndarray | None:
    """(..., n) float32 -> (...) strings, or None to let FINN's function handle it."""
    pad_to_nbits = max(int(pad_to_nbits), 4)
    if values.ndim < 1 or values.size == 0 or pad_to_nbits % 4 or not isinstance(prefix, str) \
            or not prefix.isascii() or "\x00" in prefix:
        return None
    if reverse:
        values = np.flip(values, -1)
    codes = _integer_codes(values, dtype)
    if codes is None:
        return None
    bw = 1 if dtype == DataType["BIPOLAR"] else dtype.bitwidth()
    if values.shape[-1] * bw > pad_to_nbits:
        return None  # FINN raises "Number of bits is greater than pad_to_nbits"
    flat = codes.reshape(-1, values.shape[-1])
    return _hex_rows(flat, bw, pad_to_nbits, prefix).reshape(values.shape[:-1])


def array2hexstring(array, dtype, pad_to_nbits, prefix="0x", reverse=False):
    """``finn.util.data_packing.array2hexstring``, vectorised (same result, same errors)."""
    values = array if type(array) is np.ndarray and array.dtype == np.float32 else np.asarray(array, dtype=np.float32)
    packed = _fast_path(values, dtype, pad_to_nbits, reverse, prefix) if values.ndim == 1 else None
    if packed is None:
        return ORIGINAL["array2hexstring"](array, dtype, pad_to_nbits, prefix=prefix, reverse=reverse)
    return packed.item()


def pack_innermost_dim_as_hex_string(ndarray, dtype, pad_to_nbits, reverse_inner=False, prefix="0x"):
    """``finn.util.data_packing.pack_innermost_dim_as_hex_string``, vectorised (same result)."""
    values = np.asarray(ndarray, dtype=np.float32)  # FINN converts each innermost row to float32
    packed = _fast_path(values, dtype, pad_to_nbits, reverse_inner, prefix)
    if packed is None:
        return ORIGINAL["pack_innermost_dim_as_hex_string"](
            ndarray, dtype, pad_to_nbits, reverse_inner=reverse_inner, prefix=prefix)
    return packed


FAST = {"array2hexstring": array2hexstring, "pack_innermost_dim_as_hex_string": pack_innermost_dim_as_hex_string}
for _name, _fast in FAST.items():
    _fast.finn_original = ORIGINAL[_name]


def _replace_everywhere(old, new) -> int:
    """Replace function ``old`` by ``new`` in every loaded ``finn`` module; how many were changed."""
    changed = 0
    for module_name, module in list(sys.modules.items()):
        if module is None or not (module_name == "finn" or module_name.startswith("finn.")):
            continue
        for attr, value in list(vars(module).items()):
            if value is old:
                setattr(module, attr, new)
                changed += 1
    return changed


def install() -> int:
    """Put the vectorised functions into FINN's modules; how many module attributes changed."""
    return sum(_replace_everywhere(ORIGINAL[name], FAST[name]) for name in PATCHED_NAMES)


def uninstall() -> int:
    """Put FINN's own functions back; how many module attributes changed."""
    return sum(_replace_everywhere(FAST[name], ORIGINAL[name]) for name in PATCHED_NAMES)


def installed() -> bool:
    """True while FINN packs through this module."""
    return data_packing.pack_innermost_dim_as_hex_string is pack_innermost_dim_as_hex_string
