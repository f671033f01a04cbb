"""Fixtures: random-weight BNNs compiled to ``model.onnx`` and built once per session (pynq-z2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bnn2hw.hw import build
from bnn2hw.hw.random_net import random_model_onnx

VERIFY_LIMIT = 40  # test images for the FINN-vs-QONNX check in the default tests


def make_build_dir(root: Path, name: str, input_bits: int = 1, in_shape=(1, 8, 8), seed: int = 0) -> Path:
    """A build directory with ``model.onnx`` and a ``verify.json`` naming the digits dataset."""
    random_model_onnx(root / "model.onnx", name, input_bits, in_shape, 10, seed)
    (root / "verify.json").write_text(json.dumps({"dataset": "digits", "label_mismatches": 0}))
    return root


def build_quietly(build_dir: Path, **options) -> dict:
    return build(build_dir, log=lambda _: None, **options)


@pytest.fixture(scope="session")
def tfc_build(tmp_path_factory) -> tuple[Path, dict]:
    root = make_build_dir(tmp_path_factory.mktemp("tfc"), "tfc", seed=1)
    return root, build_quietly(root, board="pynq-z2", fps=100_000, verify_limit=VERIFY_LIMIT)


@pytest.fixture(scope="session")
def sfc_build(tmp_path_factory) -> tuple[Path, dict]:
    root = make_build_dir(tmp_path_factory.mktemp("sfc"), "sfc", input_bits=8, seed=2)
    return root, build_quietly(root, board="pynq-z2", fps=50_000, verify_limit=VERIFY_LIMIT)
