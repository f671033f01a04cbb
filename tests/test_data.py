"""Tests for bnn2hw.data: digits split, IDX/CIFAR readers, lookup and errors."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from bnn2hw import data
from bnn2hw.data import DATASETS, Dataset, DatasetError, load_dataset, read_idx

# ---------------------------------------------------------------- helpers


def write_idx(path: Path, array: np.ndarray, magic: int | None = None,
              drop_tail: int = 0) -> Path:
    """Write ``array`` as an IDX file (gzipped when the name ends in .gz)."""
    array = np.asarray(array, np.uint8)
    magic = 0x0800 | array.ndim if magic is None else magic
    payload = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += array.tobytes()
    payload = payload[:len(payload) - drop_tail]
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)
    return path


def make_idx_dataset(directory: Path, suffix: str = "", seed: int = 0,
                     n_train: int = 6, n_test: int = 4, hw: tuple[int, int] = (4, 3)):
    """Tiny random MNIST-style dataset; returns the arrays written."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, *hw), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, *hw), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        write_idx(directory / f"{name}{suffix}", array)
    return arrays


def make_cifar_dir(directory: Path, per_batch: int = 2, with_meta: bool = True):
    """Tiny CIFAR-10 python-format directory; returns (x_train, y_train)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    xs, ys = [], []
    for name in data.CIFAR10_TRAIN_FILES + (data.CIFAR10_TEST_FILE,):
        x = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 10, per_batch)]
        with open(directory / name, "wb") as f:
            pickle.dump({b"data": x, b"labels": y, b"batch_label": b"x"}, f, protocol=2)
        xs.append(x)
        ys.extend(y)
    if with_meta:
        names = [f"class{i}".encode() for i in range(10)]
        with open(directory / data.CIFAR10_META_FILE, "wb") as f:
            pickle.dump({b"label_names": names}, f)
    n_train = 5 * per_batch
    return np.concatenate(xs)[:n_train].reshape(-1, 3, 32, 32), np.array(ys[:n_train])


@pytest.fixture
def no_fashion_elsewhere(monkeypatch, tmp_path):
    """Hide $BNN2HW_DATA and any system-wide fashion-mnist install."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "no-system-dir")


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


# ---------------------------------------------------------------- digits


def test_registry_names():
    assert set(DATASETS) == {"digits", "fashion-mnist", "mnist", "cifar10"}


def test_digits_shapes_and_dtypes(digits):
    assert digits.image_shape == (1, 8, 8)
    assert digits.num_classes == 10 and digits.classes == tuple("0123456789")
    for x, y in ((digits.x_train, digits.y_train), (digits.x_test, digits.y_test)):
        assert x.dtype == np.uint8 and y.dtype == np.int64
        assert x.ndim == 4 and y.shape == (len(x),)
        assert set(np.unique(y)) == set(range(10))
    assert digits.x_val.shape == (0, 1, 8, 8) and digits.y_val.shape == (0,)
    assert digits.x_train.max() == 255 and digits.x_train.min() == 0


def test_digits_split_is_80_20_and_deterministic(digits):
    n = len(digits.y_train) + len(digits.y_test)
    assert n == 1797
    assert len(digits.y_test) == round(0.2 * n)
    again = load_dataset("digits")
    assert np.array_equal(digits.x_test, again.x_test)
    assert np.array_equal(digits.y_train, again.y_train)


def test_digits_pixel_scale_matches_hardware_threshold():
    values = np.arange(17)
    pixels = data.digits_pixels_to_uint8(values)
    assert pixels[0] == 0 and pixels[16] == 255
    assert np.array_equal(pixels >= 128, values >= 8)


def test_val_split_sizes_and_disjointness(digits):
    split = load_dataset("digits", val_fraction=0.25, seed=7)
    n = len(digits.y_train)
    assert len(split.y_val) == int(n * 0.25)
    assert len(split.y_train) + len(split.y_val) == n
    # Together the two parts are exactly the original train set (as multisets).
    merged = np.concatenate([split.x_train, split.x_val]).reshape(n, -1)
    original = digits.x_train.reshape(n, -1)
    assert np.array_equal(np.unique(merged, axis=0, return_counts=True)[1],
                          np.unique(original, axis=0, return_counts=True)[1])
    train_idx, val_idx = data.split_indices(n, 0.25, 7)
    assert not set(train_idx) & set(val_idx)
    assert sorted([*train_idx, *val_idx]) == list(range(n))


def test_seed_changes_val_split_but_not_test(digits):
    a = load_dataset("digits", val_fraction=0.2, seed=1)
    b = load_dataset("digits", val_fraction=0.2, seed=2)
    c = load_dataset("digits", val_fraction=0.2, seed=1)
    assert not np.array_equal(a.y_val, b.y_val) or not np.array_equal(a.x_val, b.x_val)
    assert np.array_equal(a.x_val, c.x_val)
    for ds in (a, b):
        assert np.array_equal(ds.x_test, digits.x_test)
        assert np.array_equal(ds.y_test, digits.y_test)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "0.1", True])
def test_bad_val_fraction_raises(bad):
    with pytest.raises(ValueError, match="val_fraction"):
        load_dataset("digits", val_fraction=bad)


def test_unknown_dataset_lists_known_names():
    with pytest.raises(DatasetError, match="unknown dataset 'imagenet'") as info:
        load_dataset("imagenet")
    for name in DATASETS:
        assert name in str(info.value)


# ---------------------------------------------------------------- IDX / mnist


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_mnist_idx_round_trip(tmp_path, suffix):
    arrays = make_idx_dataset(tmp_path, suffix)
    ds = load_dataset("mnist", data_dir=str(tmp_path))
    assert ds.image_shape == (1, 4, 3)
    assert np.array_equal(ds.x_train[:, 0], arrays["train-images-idx3-ubyte"])
    assert np.array_equal(ds.y_train, arrays["train-labels-idx1-ubyte"])
    assert np.array_equal(ds.x_test[:, 0], arrays["t10k-images-idx3-ubyte"])
    assert np.array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert ds.y_train.dtype == np.int64


def test_mnist_subdirectory_is_accepted(tmp_path):
    make_idx_dataset(tmp_path / "mnist")
    assert len(load_dataset("mnist", data_dir=tmp_path).y_train) == 6


def test_read_idx_wrong_magic(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros(5), magic=0x801)
    with pytest.raises(DatasetError, match="wrong magic number") as info:
        read_idx(path, 3)
    assert "train-images-idx3-ubyte" in str(info.value)
    assert "expected 0x00000803" in str(info.value) and "found 0x00000801" in str(info.value)


def test_read_idx_truncated_data(tmp_path):
    path = write_idx(tmp_path / "imgs.gz", np.zeros((3, 4, 4)), drop_tail=5)
    with pytest.raises(DatasetError, match=r"imgs\.gz: truncated: header says 3x4x4 = 48 bytes, found 43"):
        read_idx(path, 3)


def test_read_idx_truncated_header(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(struct.pack(">I", 0x803) + b"\x00\x00")
    with pytest.raises(DatasetError, match="labels: truncated header"):
        read_idx(path, 3)


def test_read_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "imgs.gz"
    path.write_bytes(gzip.compress(b"\x00" * 100)[:20])
    with pytest.raises(DatasetError, match=r"imgs\.gz: corrupt gzip"):
        read_idx(path, 3)


def test_label_count_mismatch(tmp_path):
    make_idx_dataset(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3))
    with pytest.raises(DatasetError, match="label count 3 != image count 4") as info:
        load_dataset("mnist", data_dir=tmp_path)
    assert "t10k-labels-idx1-ubyte" in str(info.value)


def test_labels_out_of_range(tmp_path):
    make_idx_dataset(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", [0, 1, 2, 3, 4, 10])
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte: labels out of range"):
        load_dataset("mnist", data_dir=tmp_path)


def test_train_test_image_sizes_must_match(tmp_path):
    make_idx_dataset(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((4, 5, 5)))
    with pytest.raises(DatasetError, match="t10k images are"):
        load_dataset("mnist", data_dir=tmp_path)


def test_missing_file_says_where_it_looked(tmp_path):
    make_idx_dataset(tmp_path)
    os.remove(tmp_path / "t10k-images-idx3-ubyte")
    with pytest.raises(DatasetError, match="not found") as info:
        load_dataset("mnist", data_dir=tmp_path)
    message = str(info.value)
    assert "missing t10k-images-idx3-ubyte" in message
    assert str(tmp_path) in message and str(tmp_path / "mnist") in message


def test_mnist_without_data_dir(no_fashion_elsewhere):
    with pytest.raises(DatasetError, match="mnist: no data directory given"):
        load_dataset("mnist")


# ---------------------------------------------------------------- fashion-mnist lookup


@pytest.mark.parametrize("subdir", ["", "fashion-mnist"])
def test_fashion_mnist_from_env_var(tmp_path, monkeypatch, no_fashion_elsewhere, subdir):
    arrays = make_idx_dataset(tmp_path / subdir, ".gz", seed=3)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    ds = load_dataset("fashion-mnist")
    assert ds.classes[0] == "T-shirt/top" and ds.classes[-1] == "Ankle boot"
    assert np.array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])


def test_fashion_mnist_data_dir_beats_env_var(tmp_path, monkeypatch, no_fashion_elsewhere):
    make_idx_dataset(tmp_path / "env", n_train=6)
    make_idx_dataset(tmp_path / "arg", n_train=9)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    assert len(load_dataset("fashion-mnist", data_dir=tmp_path / "arg").y_train) == 9


def test_fashion_mnist_missing_lists_every_place(tmp_path, monkeypatch, no_fashion_elsewhere):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion-mnist")
    message = str(info.value)
    for place in ("env", "env/fashion-mnist"):
        assert str(tmp_path / place) in message
    assert "no-system-dir" not in message, "a directory the user names is never passed over"
    assert "apt-get install dataset-fashion-mnist" in message and "--data-dir" in message


def test_fashion_mnist_data_dir_without_the_files_is_not_passed_over(tmp_path, monkeypatch):
    make_idx_dataset(tmp_path / "env")
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    (tmp_path / "arg").mkdir()
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion-mnist", data_dir=tmp_path / "arg")
    message = str(info.value)
    assert str(tmp_path / "arg") in message and str(tmp_path / "env") not in message
    with pytest.raises(DatasetError, match="no such directory"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "missing")


def test_real_fashion_mnist():
    if not all(data.locate(data.FASHION_MNIST_SYSTEM_DIR, f) for f in data.IDX_FILES):
        pytest.skip(f"fashion-mnist not installed in {data.FASHION_MNIST_SYSTEM_DIR} "
                    "(apt-get install dataset-fashion-mnist)")
    ds = load_dataset("fashion-mnist", data_dir=data.FASHION_MNIST_SYSTEM_DIR)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert np.array_equal(np.bincount(ds.y_train), [6000] * 10)
    assert ds.y_train[0] == 9  # the first training image is an ankle boot


# ---------------------------------------------------------------- cifar10


@pytest.mark.parametrize("subdir", ["", "cifar-10-batches-py"])
def test_cifar10_synthetic_loads(tmp_path, subdir):
    x_train, y_train = make_cifar_dir(tmp_path / subdir)
    ds = load_dataset("cifar10", data_dir=tmp_path)
    assert ds.x_train.shape == (10, 3, 32, 32) and ds.x_test.shape == (2, 3, 32, 32)
    assert np.array_equal(ds.x_train, x_train) and np.array_equal(ds.y_train, y_train)
    assert ds.classes == tuple(f"class{i}" for i in range(10))


def test_cifar10_default_class_names(tmp_path):
    make_cifar_dir(tmp_path, with_meta=False)
    assert load_dataset("cifar10", data_dir=tmp_path).classes[0] == "airplane"


def test_cifar10_corrupt_pickle(tmp_path):
    make_cifar_dir(tmp_path)
    (tmp_path / "data_batch_3").write_bytes(b"\x80\x02not a pickle at all")
    with pytest.raises(DatasetError, match="data_batch_3: corrupt pickle"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_cifar10_missing_key(tmp_path):
    make_cifar_dir(tmp_path)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8)}, f)
    with pytest.raises(DatasetError, match=r"test_batch: missing keys \['labels'\]"):
        load_dataset("cifar10", data_dir=tmp_path)


class _RunsCode:
    def __reduce__(self):
        return (os.getcwd, ())


def test_cifar10_pickle_cannot_run_code(tmp_path):
    make_cifar_dir(tmp_path)
    with open(tmp_path / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _RunsCode(), b"labels": []}, f)
    with pytest.raises(DatasetError, match="data_batch_1: corrupt pickle.*not allowed"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_cifar10_missing_batch(tmp_path):
    make_cifar_dir(tmp_path)
    os.remove(tmp_path / "data_batch_5")
    with pytest.raises(DatasetError, match="missing data_batch_5"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_cifar10_numpy1_style_pickle_loads(tmp_path):
    # Real CIFAR batches were pickled by numpy 1.x, which names numpy.core.
    make_cifar_dir(tmp_path)
    x = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    raw = pickle.dumps({b"data": x, b"labels": [3, 4]}, protocol=2)
    raw = raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"numpy.core.multiarray" in raw
    (tmp_path / "test_batch").write_bytes(raw)
    ds = load_dataset("cifar10", data_dir=tmp_path)
    assert np.array_equal(ds.x_test.reshape(2, -1), x) and list(ds.y_test) == [3, 4]

