"""Image datasets for bnn2hw, loaded as raw uint8 pixels (``base``: the contract and file
helpers; ``idx``: MNIST, Fashion-MNIST, digits; ``cifar``: CIFAR-10; here: the registry).

Contract:
* ``load_dataset(name, data_dir=None, val_fraction=0.0, seed=0)`` returns a
  frozen :class:`Dataset`: images ``uint8 (N, C, H, W)`` of raw pixels, never
  normalised (the hardware binarises inputs as "pixel >= 128 is +1", so every
  consumer must see the same 0..255 scale), labels ``int64 (N,)`` in
  ``[0, num_classes)``.
* ``val_fraction`` in ``[0, 1)`` moves ``floor(N_train * val_fraction)`` train
  samples, picked by ``numpy.random.default_rng(seed)``, into the val split.
  The test split never depends on ``seed`` or ``val_fraction``.
* ``DATASETS`` maps a name (``digits``, ``fashion-mnist``, ``mnist``,
  ``cifar10``) to a loader ``(data_dir | None) -> (x_train, y_train, x_test,
  y_test, classes)``. ``digits`` is scikit-learn's embedded 8x8 set.
* Any problem with a data file raises :class:`DatasetError`, whose message
  names the file (or every place searched) and what is wrong.

Where files are looked for (first directory holding all of them wins):
* ``fashion-mnist``: ``data_dir`` if given, else ``$BNN2HW_DATA`` if set (each
  also with a ``fashion-mnist`` subdirectory), else
  ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``
  installs the four ``*-ubyte.gz``). A directory the user names is never passed
  over for another: missing files there are an error, not a fallback.
* ``mnist``: ``data_dir`` or ``data_dir/mnist`` only.
* ``cifar10``: ``data_dir`` or ``data_dir/cifar-10-batches-py`` only.
Any file may also be ``name.gz``; gzip is detected from the content.
``data_dir`` must be an existing directory; ``digits`` is embedded and refuses one.
A data set whose train or test split is empty is refused.
"""
from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np

from bnn2hw.data.base import (CIFAR10_CLASSES, CIFAR10_META_FILE, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES,
                              DIGIT_CLASSES, ENV_VAR, FASHION_MNIST_CLASSES, FASHION_MNIST_SYSTEM_DIR, IDX_FILES,
                              Dataset, DatasetError, Loader, RawSplits, candidate_dirs, find_data_dir, locate)
from bnn2hw.data.cifar import load_cifar10_raw
from bnn2hw.data.idx import (digits_pixels_to_uint8, load_digits_raw, load_fashion_mnist_raw, load_mnist_raw,
                             read_idx)

DATASETS: dict[str, Loader] = {
    "digits": load_digits_raw,
    "fashion-mnist": load_fashion_mnist_raw,
    "mnist": load_mnist_raw,
    "cifar10": load_cifar10_raw,
}


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, val) indices; val gets floor(n * val_fraction) of them.

    Flooring keeps at least one training sample whenever val_fraction < 1.
    Sorting keeps the original sample order inside each part.
    """
    n_val = int(n * val_fraction)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _check_val_fraction(val_fraction: float) -> None:
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, numbers.Real) \
            or not 0.0 <= val_fraction < 1.0:  # also rejects NaN
        raise ValueError(f"val_fraction must be a number in [0, 1), got {val_fraction!r}")


def load_dataset(name: str, data_dir: str | Path | None = None,
                 val_fraction: float = 0.0, seed: int = 0) -> Dataset:
    """Load dataset ``name`` and split ``val_fraction`` of its train set into val."""
    _check_val_fraction(val_fraction)
    loader = DATASETS.get(name)
    if loader is None:
        raise DatasetError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    directory = Path(data_dir).expanduser() if data_dir is not None else None
    if directory is not None and name == "digits":
        raise DatasetError(f"--data-dir {directory}: digits is embedded in scikit-learn and reads no files; "
                           "leave --data-dir out")
    if directory is not None and not directory.is_dir():
        raise DatasetError(f"--data-dir {directory}: no such directory")
    x_train, y_train, x_test, y_test, classes = loader(directory)
    for split, labels in (("train", y_train), ("test", y_test)):
        if len(labels) == 0:
            raise DatasetError(f"{name}: the {split} split has no images"
                               f"{f' (in {directory})' if directory else ''}; nothing to "
                               f"{'train on' if split == 'train' else 'test on'}")
    train_idx, val_idx = split_indices(len(y_train), val_fraction, seed)
    return Dataset(name=name,
                   x_train=x_train[train_idx], y_train=y_train[train_idx],
                   x_val=x_train[val_idx], y_val=y_train[val_idx],
                   x_test=x_test, y_test=y_test, classes=tuple(classes))


__all__ = ["CIFAR10_CLASSES", "CIFAR10_META_FILE", "CIFAR10_TEST_FILE", "CIFAR10_TRAIN_FILES", "DATASETS",
           "DIGIT_CLASSES", "ENV_VAR", "FASHION_MNIST_CLASSES", "FASHION_MNIST_SYSTEM_DIR", "IDX_FILES", "Dataset",
           "DatasetError", "Loader", "RawSplits", "candidate_dirs", "digits_pixels_to_uint8", "find_data_dir",
           "load_cifar10_raw", "load_dataset", "load_digits_raw", "load_fashion_mnist_raw", "load_mnist_raw",
           "locate", "read_idx", "split_indices"]
