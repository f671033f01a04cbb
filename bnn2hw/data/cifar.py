"""CIFAR-10 python batches, read with an unpickler that can only rebuild numpy arrays
(a planted pickle cannot run code); contract: ``bnn2hw.data``.
"""
from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path
from typing import Sequence

import numpy as np

from bnn2hw.data.base import (CIFAR10_CLASSES, CIFAR10_META_FILE, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES,
                              DatasetError, RawSplits, candidate_dirs, find_data_dir, locate, read_bytes)


def load_cifar10_raw(data_dir: Path | None) -> RawSplits:
    how = ("Unpack cifar-10-python.tar.gz and pass --data-dir pointing at it "
           "(or at its cifar-10-batches-py directory).")
    required = CIFAR10_TRAIN_FILES + (CIFAR10_TEST_FILE,)
    directory = find_data_dir("cifar10", candidate_dirs(data_dir, "cifar-10-batches-py"),
                              required, how)
    classes = _read_cifar_classes(directory)
    train = [_read_cifar_batch(locate(directory, f), len(classes)) for f in CIFAR10_TRAIN_FILES]
    x_test, y_test = _read_cifar_batch(locate(directory, CIFAR10_TEST_FILE), len(classes))
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return x_train, y_train, x_test, y_test, classes



def _array_pickle_globals() -> dict[tuple[str, str], object]:
    """The globals numpy 1.x and 2.x pickles use to rebuild an ndarray.

    Taken from numpy's own reducers, so no private module is imported.
    """
    array = np.zeros(1, np.uint8)
    reconstruct, frombuffer = array.__reduce__()[0], array.__reduce_ex__(5)[0]
    return {
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,   # numpy 1.x, protocol <= 4
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,  # numpy 2.x
        ("numpy.core.numeric", "_frombuffer"): frombuffer,        # protocol 5
        ("numpy._core.numeric", "_frombuffer"): frombuffer,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # python 3 writes bytes this way in protocol 2
        ("__builtin__", "bytes"): bytes,       # ... and empty bytes (an empty array) this way
        ("builtins", "bytes"): bytes,
    }


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild numpy arrays and plain containers.

    The data directory comes from the command line or the environment, and a
    plain pickle.load would run any code a planted file asks for.
    """

    ALLOWED = _array_pickle_globals()

    def find_class(self, module: str, name: str):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed") from None


def _unpickle_dict(path: Path, keys: Sequence[bytes]) -> dict:
    """Unpickle a dict (bytes keys, py2-compatible) that must hold ``keys``."""
    raw = read_bytes(path)
    try:
        obj = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:  # corrupt pickles raise a zoo of exception types
        raise DatasetError(f"{path}: corrupt pickle: {type(e).__name__}: {e}") from e
    if not isinstance(obj, dict):
        raise DatasetError(f"{path}: expected a pickled dict, found {type(obj).__name__}")
    missing = [k.decode() for k in keys if k not in obj]
    if missing:
        raise DatasetError(f"{path}: missing keys {missing} in pickled dict")
    return obj


def _read_cifar_batch(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle_dict(path, [b"data", b"labels"])
    data = np.asarray(batch[b"data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetError(f"{path}: b'data' must be uint8 (N, 3072), "
                           f"found {data.dtype} {data.shape}")
    try:
        labels = np.asarray(batch[b"labels"]).reshape(-1)
    except (TypeError, ValueError) as e:
        raise DatasetError(f"{path}: b'labels' is not a list of integers: {e}") from e
    if labels.size and (labels.dtype.kind not in "iu" or labels.dtype == np.bool_):
        raise DatasetError(f"{path}: b'labels' must be integers, found {labels.dtype} "
                           f"(e.g. {labels[:3].tolist()})")
    labels = labels.astype(np.int64)
    if len(labels) != len(data):
        raise DatasetError(f"{path}: label count {len(labels)} != image count {len(data)}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(f"{path}: labels out of range: expected 0..{num_classes - 1}, "
                           f"found {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32), labels  # rows are R plane, G plane, B plane


def _read_cifar_classes(directory: Path) -> tuple[str, ...]:
    """Class names from batches.meta when present, else the standard ten."""
    path = locate(directory, CIFAR10_META_FILE)
    if path is None:
        return CIFAR10_CLASSES
    names = _unpickle_dict(path, [b"label_names"])[b"label_names"]
    valid = isinstance(names, (list, tuple)) and len(names) > 0
    if not valid or not all(isinstance(n, (bytes, str)) for n in names):
        raise DatasetError(f"{path}: b'label_names' must be a non-empty list of strings")
    return tuple(n.decode() if isinstance(n, bytes) else n for n in names)


