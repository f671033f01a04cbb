"""README.md's ``sh`` blocks, run in order as a new user would: from a copy of the checkout, with
relative paths, bnn2hw's caches empty (``HOME`` elsewhere) and the README's own command lines.

Marked ``readme`` (deselected by default: it takes tens of minutes; ``make readme-test`` runs it,
BENCHMARKS.md has its time). To fit a test, every command runs as written except:
* ``make`` lines (the two fresh-machine commands) are skipped;
* epochs are cut to a tenth (at least 1), and ``train`` without ``--epochs`` gets 2;
* Fashion-MNIST is a 2,000 / 500-image subset of the real one (random images without it), given
  through ``$BNN2HW_DATA``;
* a block whose ``# needs: A, B`` names a tool ``bnn2hw doctor`` does not find is skipped, and said.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.checkout import REPO, copy_checkout, user_env

BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
def readme_blocks(text: str) -> list[str]:
    return [m.group(1) for m in BLOCK.finditer(text)]


def needs(block: str) -> list[str]:
    line = next((line for line in block.splitlines() if line.startswith("# needs:")), "")
    return [name.strip() for name in line.removeprefix("# needs:").split(",") if name.strip()]


def smoke(line: str) -> str | None:
    """The README line as the test runs it (see the module docstring); None: skipped."""
    command, hash_, comment = line.partition(" #")
    if not command.strip() or command.lstrip().startswith(("#", "make ")):
        return None
    command = re.sub(r"--epochs (\d+)", lambda m: f"--epochs {max(1, int(m.group(1)) // 10)}", command)
    if " train " in command and "--epochs" not in command:
        command = command.rstrip() + " --epochs 2"
    return command.rstrip()


def test_smoke_rewrites_epochs_and_skips_make():
    assert smoke("make demo   # fresh machine") is None and smoke("# a comment") is None
    assert smoke(".venv/bin/bnn2hw train --epochs 20 --out r   # note") == ".venv/bin/bnn2hw train --epochs 2 --out r"
    assert smoke(".venv/bin/bnn2hw train --method pbnet --out r") == ".venv/bin/bnn2hw train --method pbnet --out r --epochs 2"
    assert smoke(".venv/bin/bnn2hw flow --epochs 5") == ".venv/bin/bnn2hw flow --epochs 1"


def test_every_needed_tool_is_one_doctor_knows():
    from bnn2hw.pipeline.doctor import run_doctor
    known = {f.name for f in run_doctor()}
    for block in readme_blocks((REPO / "README.md").read_text()):
        assert set(needs(block)) <= known, needs(block)


def _small_fashion_mnist(directory: Path) -> None:
    from bnn2hw.data import DatasetError, load_dataset
    from tests.test_data import write_idx
    directory.mkdir(parents=True)
    try:
        data = load_dataset("fashion-mnist")
        x_train, y_train, x_test, y_test = data.x_train[:2000], data.y_train[:2000], data.x_test[:500], data.y_test[:500]
    except DatasetError:
        rng = np.random.default_rng(0)
        x_train, x_test = (rng.integers(0, 256, (n, 1, 28, 28), dtype=np.uint8) for n in (2000, 500))
        y_train, y_test = (rng.integers(0, 10, n, dtype=np.uint8) for n in (2000, 500))
    for name, array in (("train-images-idx3-ubyte", x_train.reshape(-1, 28, 28)), ("train-labels-idx1-ubyte", y_train),
                        ("t10k-images-idx3-ubyte", x_test.reshape(-1, 28, 28)), ("t10k-labels-idx1-ubyte", y_test)):
        write_idx(directory / name, np.ascontiguousarray(array, dtype=np.uint8))


@pytest.mark.readme
def test_readme_blocks_run_in_order(tmp_path):
    from bnn2hw.pipeline.doctor import run_doctor
    checkout = tmp_path / "bnn2hw"
    copy_checkout(checkout)
    (checkout / ".venv").symlink_to(REPO / ".venv")
    _small_fashion_mnist(tmp_path / "fashion-mnist")
    env = user_env()
    env.update(HOME=str(tmp_path / "home"), BNN2HW_DATA=str(tmp_path / "fashion-mnist"), MPLBACKEND="Agg")
    import platformdirs  # yowasp's compiled WebAssembly is not bnn2hw's cache: keep it
    env["YOWASP_CACHE_DIR"] = os.environ.get("YOWASP_CACHE_DIR", platformdirs.user_cache_dir("YoWASP", appauthor=False))
    found = {f.name for f in run_doctor() if f.found}
    log, failed = [], []
    for number, block in enumerate(readme_blocks((checkout / "README.md").read_text()), 1):
        missing = [name for name in needs(block) if name not in found]
        if missing:
            log.append(f"block {number}: skipped, needs {', '.join(missing)}")
            continue
        for line in filter(None, map(smoke, block.splitlines())):
            t0 = time.perf_counter()
            result = subprocess.run(["bash", "-c", line], cwd=checkout, env=env, capture_output=True, text=True)
            log.append(f"block {number}: {line}  ({time.perf_counter() - t0:.0f} s, exit {result.returncode})")
            if result.returncode != 0:  # go on: later blocks may not need this one, and all failures are seen
                failed.append(f"block {number}: {line}\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}")
    print("\n".join(log))
    assert not failed, "\n\n".join(failed)
