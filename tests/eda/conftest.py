"""Fixtures for the Verilator rungs: ``--impl rtl`` builds and one-node RTL graphs.

Every test here needs Verilator (Debian's ``verilator``; ``scripts/setup_venv.sh`` installs it
as root) and skips with that reason without it. Verilator builds are cached by content hash
(``~/.cache/bnn2hw/verilator``), so a second run costs only the simulations.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from bnn2hw.hw.random_net import random_rtl_build

requires_verilator = pytest.mark.skipif(shutil.which("verilator") is None,
                                        reason="Verilator not installed (apt-get install verilator)")


def rtl_build(root: Path, name: str, input_bits: int, in_shape, dataset: str, fps: float | None, seed: int,
              runtime_weights: bool = False, output: str = "labels", folding: dict | None = None) -> Path:
    """``model.onnx`` of a random-weight topology, built with ``--impl rtl`` to code generation
    (for the rate ``fps``, or with the FINN ``folding`` given as a dict)."""
    return random_rtl_build(root, name, input_bits, in_shape, dataset, fps, seed, folding=folding,
                            runtime_weights=runtime_weights, output=output)


@pytest.fixture(scope="session")
def tfc_rtl(tmp_path_factory) -> Path:
    return rtl_build(tmp_path_factory.mktemp("tfc_rtl"), "tfc", 1, (1, 8, 8), "digits", 100_000, seed=21,
                     runtime_weights=True)


@pytest.fixture(scope="session")
def tfc8_rtl(tmp_path_factory) -> Path:
    return rtl_build(tmp_path_factory.mktemp("tfc8_rtl"), "tfc", 8, (1, 8, 8), "digits", 200_000, seed=22)


# the last MVAU with 5 lanes: two 40-bit words of 8-bit popcounts per image (two uint32 chunks each)
TFC_SCORES_FOLDING = {"Defaults": {}, "Thresholding_rtl_0": {"PE": 1},
                      **{f"MVAUBinary_rtl_{i}": {"PE": 2, "SIMD": 8} for i in range(3)},
                      "MVAUBinary_rtl_3": {"PE": 5, "SIMD": 2}}


@pytest.fixture(scope="session")
def tfc_scores_rtl(tmp_path_factory) -> Path:
    """TFC (1-bit input) built with ``--output scores``, runtime weights and a 5-lane last layer."""
    return rtl_build(tmp_path_factory.mktemp("tfc_scores_rtl"), "tfc", 1, (1, 8, 8), "digits", None, seed=31,
                     runtime_weights=True, output="scores", folding=TFC_SCORES_FOLDING)


def digits_test_images(limit: int | None = None) -> np.ndarray:
    from bnn2hw.data import load_dataset
    images = load_dataset("digits").x_test
    return images if limit is None else images[:limit]


def declared_modules(paths) -> set[str]:
    """Names of the (System)Verilog modules the given source files declare."""
    return {name for path in paths for name in re.findall(r"^\s*module\s+(\w+)", Path(path).read_text(), re.M)}


def build_modules(root: Path) -> set[str]:
    """Every module in the RTL sources of a build's ``hw/rtl/`` (what Verilator compiled)."""
    rtl = root / "hw" / "rtl"
    manifest = json.loads((rtl / "manifest.json").read_text())
    return declared_modules(rtl / f for f in manifest.get("files") or
                            [s for node in manifest["nodes"] for s in node["sources"]])
