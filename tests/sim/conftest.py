"""Fixtures: small random-weight BNNs compiled and built once per session, for the simulator tests.

``make_sim_build(root, name, ...)`` writes ``model.onnx`` (``bnn2hw.hw.random_net``) and a
``verify.json`` naming the digits dataset, then runs ``bnn2hw build`` up to the estimates (the
folded, specialised ``hw/dataflow.onnx`` the simulator executes; no code generation).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bnn2hw.hw import build
from bnn2hw.hw.random_net import random_model_onnx


def make_sim_build(root: Path, name: str, input_bits: int = 1, in_shape=(1, 8, 8), seed: int = 0,
                   fps: float = 100_000) -> Path:
    random_model_onnx(root / "model.onnx", name, input_bits, in_shape, 10, seed)
    (root / "verify.json").write_text(json.dumps({"dataset": "digits", "label_mismatches": 0}))
    build(root, board="pynq-z2", fps=fps, verify_limit=4, stop_after="estimates", log=lambda _: None)
    return root


@pytest.fixture(scope="session")
def tfc_sim_build(tmp_path_factory) -> Path:
    return make_sim_build(tmp_path_factory.mktemp("sim_tfc"), "tfc", seed=11, fps=2_000_000)


@pytest.fixture(scope="session")
def sfc_sim_build(tmp_path_factory) -> Path:
    return make_sim_build(tmp_path_factory.mktemp("sim_sfc"), "sfc", input_bits=8, seed=12, fps=100_000)
