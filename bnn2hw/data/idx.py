"""IDX files (MNIST, Fashion-MNIST): the format reader and the two loaders, plus scikit-learn's
embedded digits (contract: ``bnn2hw.data``; ``read_idx`` checks magic, header and size).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bnn2hw.data.base import (DIGIT_CLASSES, DIGITS_SPLIT_SEED, DIGITS_TEST_FRACTION, ENV_VAR,
                              FASHION_MNIST_CLASSES, FASHION_MNIST_SYSTEM_DIR, IDX_FILES, DatasetError,
                              RawSplits, candidate_dirs, find_data_dir, locate, read_bytes)

def read_idx(path: Path, expected_ndim: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes (plain or gzipped).

    Layout: big-endian magic ``0x000008DD`` (0x08 = uint8, DD = number of
    dimensions), DD big-endian uint32 sizes, then the bytes row-major.
    Images use ndim 3 (0x00000803), labels ndim 1 (0x00000801).
    """
    path = Path(path)
    raw = read_bytes(path)
    expected_magic = 0x0800 | expected_ndim
    header_len = 4 + 4 * expected_ndim
    found_magic = int.from_bytes(raw[:4], "big")
    if len(raw) >= 4 and found_magic != expected_magic:
        raise DatasetError(f"{path}: wrong magic number: expected 0x{expected_magic:08x}, "
                           f"found 0x{found_magic:08x}")
    if len(raw) < header_len:
        raise DatasetError(f"{path}: truncated header: need {header_len} bytes, found {len(raw)}")
    shape = tuple(int.from_bytes(raw[i:i + 4], "big") for i in range(4, header_len, 4))
    want, found = int(np.prod(shape)), len(raw) - header_len
    if found != want:
        problem = "truncated" if found < want else "has trailing bytes"
        dims = "x".join(map(str, shape))
        raise DatasetError(f"{path}: {problem}: header says {dims} = {want} bytes, found {found}")
    # frombuffer views immutable bytes; copy so callers get a normal array.
    return np.frombuffer(raw, np.uint8, offset=header_len).reshape(shape).copy()


def _load_idx_split(directory: Path, prefix: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, H, W) and int64 labels for the 'train' or 't10k' files."""
    images_path = locate(directory, f"{prefix}-images-idx3-ubyte")
    labels_path = locate(directory, f"{prefix}-labels-idx1-ubyte")
    images, labels = read_idx(images_path, 3), read_idx(labels_path, 1)
    if len(labels) != len(images):
        raise DatasetError(f"{labels_path}: label count {len(labels)} != "
                           f"image count {len(images)} in {images_path}")
    if len(labels) and int(labels.max()) >= num_classes:
        raise DatasetError(f"{labels_path}: labels out of range: found {int(labels.max())}, "
                           f"expected 0..{num_classes - 1}")
    return images[:, None], labels.astype(np.int64)


def _load_idx_dataset(directory: Path, classes: tuple[str, ...]) -> RawSplits:
    x_train, y_train = _load_idx_split(directory, "train", len(classes))
    x_test, y_test = _load_idx_split(directory, "t10k", len(classes))
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DatasetError(f"{directory}: train images are {x_train.shape[2:]} "
                           f"but t10k images are {x_test.shape[2:]}")
    return x_train, y_train, x_test, y_test, classes


def digits_pixels_to_uint8(values: np.ndarray) -> np.ndarray:
    """Map digits' 0..16 intensities onto 0..255.

    round(v * 255 / 16) sends v = 8 to exactly 128 (127.5 rounds half to
    even), so the hardware rule "pixel >= 128" is the same as v >= 8.
    """
    return np.round(np.asarray(values, np.float64) * 255 / 16).astype(np.uint8)


def load_digits_raw(data_dir: Path | None = None) -> RawSplits:
    """scikit-learn's 8x8 digits; data_dir is ignored (the data is embedded)."""
    from sklearn.datasets import load_digits  # lazy: sklearn is slow to import

    bunch = load_digits()
    x = digits_pixels_to_uint8(bunch.images)[:, None]
    y = np.asarray(bunch.target, np.int64)
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(y))
    n_test = int(round(len(y) * DIGITS_TEST_FRACTION))
    test_idx, train_idx = np.sort(order[:n_test]), np.sort(order[n_test:])
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx], DIGIT_CLASSES


def load_fashion_mnist_raw(data_dir: Path | None) -> RawSplits:
    candidates = candidate_dirs(data_dir, "fashion-mnist", use_env=True,
                                system_dirs=[FASHION_MNIST_SYSTEM_DIR])
    how = ("Install it with `apt-get install dataset-fashion-mnist`, or pass "
           f"--data-dir (or set ${ENV_VAR}) to a directory holding the IDX files.")
    directory = find_data_dir("fashion-mnist", candidates, IDX_FILES, how)
    return _load_idx_dataset(directory, FASHION_MNIST_CLASSES)


def load_mnist_raw(data_dir: Path | None) -> RawSplits:
    how = "Pass --data-dir pointing at a directory with the MNIST IDX files."
    directory = find_data_dir("mnist", candidate_dirs(data_dir, "mnist"), IDX_FILES, how)
    return _load_idx_dataset(directory, DIGIT_CLASSES)


