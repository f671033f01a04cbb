"""What every pipeline stage shares: refusing to overwrite a previous run, build or package
without ``force``, checking counts, locking an existing build directory, posterior sample
directories (``BUILD/samples/<k>/``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from bnn2hw.errors import OutputDirError
from bnn2hw.output_dir import lock_output, recover_interrupted


RUN_FILES = ("checkpoint.pt", "metrics.json", "curves.png", "continual.json")
BUILD_MARKERS = ("model.onnx", "verify.json")
PACKAGE_MARKER = "io_spec.json"


def holds(directory: Path, names) -> list[str]:
    return [n for n in names if (directory / n).exists()]


def refuse_overwrite(directory: Path, names, what: str, force: bool, resume_hint: bool = False) -> None:
    found = holds(directory, names)
    if found and not force:
        how = "--resume continues it, --force replaces it" if resume_hint else "--force replaces it"
        raise OutputDirError(f"{directory}: already holds a {what} ({', '.join(found)}); choose a new "
                             f"directory, or {how}")


def check_count(value, option: str, minimum: int = 0) -> None:
    """Refuse a count below ``minimum`` (negative ``--limit``, ``--samples``, ...), naming the option."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        raise ValueError(f"{option} must be an integer >= {minimum}, got {value!r}")


SAMPLES_DIR = "samples"  # BUILD/samples/<k>/: posterior sample k, compiled and built like BUILD


def sample_dirs(build_dir: Path) -> list[Path]:
    root = Path(build_dir) / SAMPLES_DIR
    return sorted((d for d in root.iterdir() if d.name.isdigit()), key=lambda d: int(d.name)) if root.is_dir() else []


@contextlib.contextmanager
def existing_build(build_dir: Path):
    """Lock on a build directory that must exist (build, simulate)."""
    build_dir = Path(build_dir)
    if not build_dir.is_dir():
        raise OutputDirError(f"{build_dir}: no such build directory; run `bnn2hw compile` first")
    with lock_output(build_dir):
        for hw_dir in [build_dir / "hw"] + [d / "hw" for d in sample_dirs(build_dir)]:
            recover_interrupted(hw_dir)  # a build killed mid-way: its previous hw/ comes back
        yield build_dir
