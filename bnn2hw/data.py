"""Image datasets for bnn2hw, loaded as raw uint8 pixels.

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

import codecs
import gzip
import io
import numbers
import os
import pickle
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


# ---------------------------------------------------------------- file helpers

def _locate(directory: Path, name: str) -> Path | None:
    """``directory/name`` or ``directory/name.gz``, whichever exists first."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_bytes(path: Path) -> bytes:
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
        if all(_locate(directory, f) for f in required):
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
    missing = [f for f in required if _locate(directory, f) is None]
    return f"{directory} (missing {', '.join(missing)})"


# ---------------------------------------------------------------- IDX format

def read_idx(path: Path, expected_ndim: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes (plain or gzipped).

    Layout: big-endian magic ``0x000008DD`` (0x08 = uint8, DD = number of
    dimensions), DD big-endian uint32 sizes, then the bytes row-major.
    Images use ndim 3 (0x00000803), labels ndim 1 (0x00000801).
    """
    path = Path(path)
    raw = _read_bytes(path)
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
    images_path = _locate(directory, f"{prefix}-images-idx3-ubyte")
    labels_path = _locate(directory, f"{prefix}-labels-idx1-ubyte")
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


# ---------------------------------------------------------------- loaders

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


def load_cifar10_raw(data_dir: Path | None) -> RawSplits:
    how = ("Unpack cifar-10-python.tar.gz and pass --data-dir pointing at it "
           "(or at its cifar-10-batches-py directory).")
    required = CIFAR10_TRAIN_FILES + (CIFAR10_TEST_FILE,)
    directory = find_data_dir("cifar10", candidate_dirs(data_dir, "cifar-10-batches-py"),
                              required, how)
    classes = _read_cifar_classes(directory)
    train = [_read_cifar_batch(_locate(directory, f), len(classes)) for f in CIFAR10_TRAIN_FILES]
    x_test, y_test = _read_cifar_batch(_locate(directory, CIFAR10_TEST_FILE), len(classes))
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return x_train, y_train, x_test, y_test, classes


# ---------------------------------------------------------------- CIFAR pickles

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
    raw = _read_bytes(path)
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
    path = _locate(directory, CIFAR10_META_FILE)
    if path is None:
        return CIFAR10_CLASSES
    names = _unpickle_dict(path, [b"label_names"])[b"label_names"]
    valid = isinstance(names, (list, tuple)) and len(names) > 0
    if not valid or not all(isinstance(n, (bytes, str)) for n in names):
        raise DatasetError(f"{path}: b'label_names' must be a non-empty list of strings")
    return tuple(n.decode() if isinstance(n, bytes) else n for n in names)


# ---------------------------------------------------------------- public entry

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
