"""bnn2hw.hw.fast_packing gives exactly FINN's strings: property checks against finn-plus 1.6.1's
own functions on random tensors of every datatype FINN packs here, and a small build whose
generated files are byte-for-byte the same with and without the patch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bnn2hw.hw.finn_env import import_finn

import_finn()

import finn.util.data_packing as data_packing  # noqa: E402
from qonnx.core.datatype import DataType  # noqa: E402

from bnn2hw.hw import fast_packing  # noqa: E402
from tests.hw.conftest import build_quietly, make_build_dir  # noqa: E402


def finn_function(name: str):
    """FINN's own function, run with FINN's own helpers in ``finn.util.data_packing`` (its
    ``pack_innermost_dim_as_hex_string`` looks ``array2hexstring`` up there, where the patch is)."""
    def call(*args, **kwargs):
        saved = {attr: getattr(data_packing, attr) for attr in fast_packing.PATCHED_NAMES}
        for attr in fast_packing.PATCHED_NAMES:
            setattr(data_packing, attr, fast_packing.ORIGINAL[attr])
        try:
            return fast_packing.ORIGINAL[name](*args, **kwargs)
        finally:
            for attr, value in saved.items():
                setattr(data_packing, attr, value)
    return call


ORIGINAL_PACK = finn_function("pack_innermost_dim_as_hex_string")
ORIGINAL_HEX = finn_function("array2hexstring")
INTEGER_TYPES = ["BIPOLAR", "BINARY", "TERNARY", "UINT2", "UINT3", "UINT4", "UINT8", "UINT16", "UINT24",
                 "UINT32", "INT2", "INT3", "INT4", "INT5", "INT8", "INT16", "INT24", "INT32"]
FIXED_TYPES = ["FIXED<8,4>", "FIXED<12,3>"]
ALL_TYPES = INTEGER_TYPES + FIXED_TYPES


def random_values(rng: np.random.Generator, dtype, shape) -> np.ndarray:
    """Values the datatype allows, extremes included, as FINN stores them (float32)."""
    if dtype == DataType["BIPOLAR"]:
        return rng.choice([-1.0, 1.0], size=shape).astype(np.float32)
    if dtype.is_fixed_point():
        low, high = -(2 ** (dtype.bitwidth() - 1)), 2 ** (dtype.bitwidth() - 1) - 1
        ints = rng.integers(low, high, size=shape, endpoint=True)
        return (ints * dtype.scale_factor()).astype(np.float32)
    low, high = int(dtype.min()), int(dtype.max())
    if dtype.bitwidth() > 24:  # float32 holds these exactly only up to 2**24
        low, high = max(low, -(2 ** 24)), min(high, 2 ** 24)
    values = rng.integers(low, high, size=shape, endpoint=True)
    flat = values.reshape(-1)
    flat[: min(2, flat.size)] = [low, high][: min(2, flat.size)]
    return values.astype(np.float32)


def packed_bits(dtype, inner: int) -> int:
    return inner * dtype.bitwidth()


def outcome(fn, *args, **kwargs):
    """fn's result, or the type and message of what it raised."""
    try:
        return "ok", fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - the point is to compare any failure
        return "raised", (type(err), str(err))


def assert_same_packing(expected, got) -> None:
    assert type(got) is type(expected)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("dtype_name", ALL_TYPES)
@pytest.mark.parametrize("seed", range(4))
def test_pack_innermost_matches_finn(dtype_name, seed):
    rng = np.random.default_rng(seed)
    dtype = DataType[dtype_name]
    for _ in range(6):
        shape = tuple(rng.integers(1, 5, size=rng.integers(0, 3))) + (int(rng.integers(1, 33)),)
        values = random_values(rng, dtype, shape)
        bits = packed_bits(dtype, shape[-1])
        pad = max(4, -(-bits // 4) * 4) + 4 * int(rng.integers(0, 3))
        reverse, prefix = bool(rng.integers(2)), ["0x", ""][int(rng.integers(2))]
        expected = ORIGINAL_PACK(values, dtype, pad, reverse_inner=reverse, prefix=prefix)
        assert fast_packing._fast_path(values, dtype, pad, reverse, prefix) is not None  # not FINN's fallback
        assert_same_packing(expected, fast_packing.pack_innermost_dim_as_hex_string(
            values, dtype, pad, reverse_inner=reverse, prefix=prefix))


@pytest.mark.parametrize("dtype_name", ALL_TYPES)
def test_array2hexstring_matches_finn(dtype_name):
    rng = np.random.default_rng(7)
    dtype = DataType[dtype_name]
    for _ in range(10):
        inner = int(rng.integers(1, 40))
        values = random_values(rng, dtype, (inner,))
        pad = max(4, -(-packed_bits(dtype, inner) // 4) * 4) + 4 * int(rng.integers(0, 3))
        for reverse in (False, True):
            expected = ORIGINAL_HEX(values, dtype, pad, reverse=reverse)
            got = fast_packing.array2hexstring(values, dtype, pad, reverse=reverse)
            assert type(got) is str and got == expected


@pytest.mark.parametrize("container", ["float64", "float16", "int64", "list"])
def test_other_containers_match_finn(container):
    rng = np.random.default_rng(3)
    dtype = DataType["INT4"]
    values = random_values(rng, dtype, (3, 5))
    data = values.tolist() if container == "list" else values.astype(container)
    assert_same_packing(ORIGINAL_PACK(data, dtype, 20), fast_packing.pack_innermost_dim_as_hex_string(data, dtype, 20))
    row = data[0]
    assert fast_packing.array2hexstring(row, dtype, 20) == ORIGINAL_HEX(row, dtype, 20)


@pytest.mark.parametrize("case", [
    ("tiny pad", "BINARY", [1, 0], 1), ("pad 3", "UINT2", [3], 3), ("bits over pad", "UINT4", [1, 2, 3], 8),
    ("pad not hex", "BINARY", [1, 0, 1], 6), ("not allowed", "UINT2", [4], 8), ("fraction", "INT4", [0.5], 8),
    ("bipolar zero", "BIPOLAR", [1, 0, -1], 4), ("nan", "INT8", [np.nan], 8), ("float type", "FLOAT32", [1.5, -2], 64),
    ("fixed not allowed", "FIXED<8,4>", [0.03], 8), ("one value", "INT8", [-128], 8), ("empty", "INT8", [], 8),
    ("int32 extremes", "INT32", [-2 ** 31, 2 ** 31 - 128], 64), ("uint32 max rounds up", "UINT32", [2 ** 32 - 1], 32),
])
def test_edge_cases_and_errors_match_finn(case):
    _, dtype_name, row, pad = case
    dtype = DataType[dtype_name]
    for data in (row, [row, row]):
        status, expected = outcome(ORIGINAL_PACK, data, dtype, pad)
        got_status, got = outcome(fast_packing.pack_innermost_dim_as_hex_string, data, dtype, pad)
        assert got_status == status
        if status == "ok":
            assert_same_packing(expected, got)
        else:
            assert got == expected
    assert outcome(fast_packing.array2hexstring, row, dtype, pad) == outcome(ORIGINAL_HEX, row, dtype, pad)


def test_numpy_to_hls_code_unchanged():
    rng = np.random.default_rng(11)
    for dtype_name in ("BINARY", "INT4", "UINT8"):
        dtype = DataType[dtype_name]
        tensor = random_values(rng, dtype, (1, 3, 4, 16))
        patched = data_packing.numpy_to_hls_code(tensor, dtype, "weights", True, True)
        fast_packing.uninstall()
        try:
            original = data_packing.numpy_to_hls_code(tensor, dtype, "weights", True, True)
        finally:
            fast_packing.install()
        assert patched == original


def test_installed_where_finn_looks_it_up():
    import finn.custom_op.fpgadataflow.matrixvectoractivation as mvau
    import finn.custom_op.fpgadataflow.rtl.thresholding_rtl as thresholding_rtl
    assert fast_packing.installed()
    assert mvau.pack_innermost_dim_as_hex_string is fast_packing.pack_innermost_dim_as_hex_string
    assert thresholding_rtl.pack_innermost_dim_as_hex_string is fast_packing.pack_innermost_dim_as_hex_string
    assert data_packing.array2hexstring is fast_packing.array2hexstring


def codegen_files(build_dir: Path) -> dict[tuple[str, str], bytes]:
    """Generated files by (node, file name), with the build's own paths taken out."""
    files = {}
    for path in (build_dir / "hw" / "codegen").rglob("*"):
        if path.is_file():
            node = path.parent.name[:-9]  # drop the "_" + 8 random characters of FINN's temp dir
            text = path.read_bytes().replace(str(path.parent).encode(), b"<codegen>")
            files[(node, path.name)] = text.replace(str(build_dir.resolve()).encode(), b"<build>")
    return files


def test_build_files_identical_without_patch(tmp_path):
    options = dict(board="pynq-z2", fps=100_000, verify_limit=1, stop_after="codegen")
    fast = make_build_dir(tmp_path / "fast", "tfc", seed=1)
    build_quietly(fast, **options)
    slow = make_build_dir(tmp_path / "finn", "tfc", seed=1)
    fast_packing.uninstall()
    try:
        build_quietly(slow, **options)
    finally:
        fast_packing.install()
    fast_files, slow_files = codegen_files(fast), codegen_files(slow)
    assert any(name == "memblock.dat" for _, name in fast_files)
    assert any(name.endswith(".dat") and "Thresholding" in node for node, name in fast_files)
    assert fast_files.keys() == slow_files.keys()
    assert [key for key in fast_files if fast_files[key] != slow_files[key]] == []


def test_other_finn_version_keeps_finn_packing(monkeypatch, caplog):
    from bnn2hw.hw import finn_env
    monkeypatch.setattr(finn_env.importlib.metadata, "version", lambda name: "9.9.9")
    fast_packing.uninstall()
    try:
        assert finn_env.install_fast_packing() is False
        assert not fast_packing.installed()
        assert "finn-plus 9.9.9 is not 1.6.1" in caplog.text
    finally:
        fast_packing.install()
