"""The dataset contract and the file helpers every reader shares (see ``bnn2hw.data``).

Contract: the frozen ``Dataset`` (uint8 (N, C, H, W) raw pixels, int64 labels, checked on
construction), ``DatasetError`` (names the file and the problem), the file names and class
names of each data set, and where files are looked for: ``candidate_dirs`` / ``find_data_dir``
(a directory the user names is never passed over), ``locate`` (``name`` or ``name.gz``) and
``read_bytes`` (gunzipped when the content is gzip).
"""
from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

ENV_VAR = "BNN2HW_DATA"
# Module-level so tests (and unusual installs) can point it elsewhere.
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_FILE = "test_batch"
CIFAR10_META_FILE = "batches.meta"

DIGIT_CLASSES = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")

DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0  # fixed, so the digits test set is the same forever


class DatasetError(ValueError):
    """Bad or missing dataset file; message names the file and the problem."""


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray  # uint8 (N, C, H, W), raw pixels
    y_train: np.ndarray  # int64 (N,)
    x_val: np.ndarray    # uint8 (M, C, H, W); M may be 0
    y_val: np.ndarray    # int64 (M,)
    x_test: np.ndarray   # uint8 (K, C, H, W)
    y_test: np.ndarray   # int64 (K,)
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            _check_split(split, getattr(self, f"x_{split}"), getattr(self, f"y_{split}"),
                         self.x_train.shape[1:], len(self.classes))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _check_split(split: str, x: np.ndarray, y: np.ndarray,
                 image_shape: tuple[int, ...], num_classes: int) -> None:
    """Enforce the Dataset invariants so a loader bug cannot leak downstream."""
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != image_shape:
        raise ValueError(f"x_{split}: want uint8 (N, {image_shape}), got {x.dtype} {x.shape}")
    if y.dtype != np.int64 or y.shape != (len(x),):
        raise ValueError(f"y_{split}: want int64 ({len(x)},), got {y.dtype} {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"y_{split}: labels outside [0, {num_classes})")


RawSplits = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]
Loader = Callable[[Path | None], RawSplits]


def locate(directory: Path, name: str) -> Path | None:
    """``directory/name`` or ``directory/name.gz``, whichever exists first."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_bytes(path: Path) -> bytes:
    """Whole file content, gunzipped if it starts with the gzip magic."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read: {e.strerror or e}") from e
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: corrupt gzip data: {e}") from e


def candidate_dirs(data_dir: Path | None, subdir: str, use_env: bool = False,
                   system_dirs: Sequence[Path] = ()) -> list[Path]:
    """Directories to search, in order: data_dir, $BNN2HW_DATA, system dirs.

    Only the first of them that is given is searched (a directory the user
    names is never passed over for another). Each user-given root is tried
    as-is and with ``subdir`` appended, so one data root can hold several
    datasets side by side.
    """
    if data_dir is not None:
        roots = [data_dir]
    elif use_env and os.environ.get(ENV_VAR):
        roots = [Path(os.environ[ENV_VAR]).expanduser()]
    else:
        return list(system_dirs)
    dirs = [d for root in roots for d in (root, root / subdir)]
    return list(dict.fromkeys(dirs))  # drop duplicates, keep order


def find_data_dir(name: str, candidates: Sequence[Path], required: Sequence[str],
                  how_to_get: str) -> Path:
    """First candidate holding every required file, else a DatasetError
    listing each place searched and what was missing there."""
    for directory in candidates:
        if all(locate(directory, f) for f in required):
            return directory
    wanted = ", ".join(f"{f}[.gz]" for f in required)
    if not candidates:
        raise DatasetError(f"{name}: no data directory given; need {wanted}. {how_to_get}")
    looked = "; ".join(_describe_missing(d, required) for d in candidates)
    raise DatasetError(f"{name}: dataset files not found (need {wanted}). "
                       f"Looked in: {looked}. {how_to_get}")


def _describe_missing(directory: Path, required: Sequence[str]) -> str:
    if not directory.is_dir():
        return f"{directory} (no such directory)"
    missing = [f for f in required if locate(directory, f) is None]
    return f"{directory} (missing {', '.join(missing)})"


