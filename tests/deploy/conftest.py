"""Fixtures: small random-weight builds (up to the estimates) and deploy packages made from them.

``runtime_build`` is a copy of the TFC build whose MVAUs carry ``runtime_writeable_weights=1``
(what FINN's folding attribute, and the hw stage's planned ``runtime_weights`` option, set in
``dataflow.onnx``) plus two posterior samples in ``BUILD/samples/<k>/hw/`` laid out as
``bnn2hw.sim`` expects: the same graph with a random tenth of every MVAU's weights flipped.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from bnn2hw.deploy import deploy
from bnn2hw.hw import build
from bnn2hw.hw.random_net import random_model_onnx


def make_build(root: Path, name: str, input_bits: int, seed: int, fps: float) -> Path:
    random_model_onnx(root / "model.onnx", name, input_bits, (1, 8, 8), 10, seed)
    (root / "verify.json").write_text(json.dumps({"dataset": "digits", "label_mismatches": 0}))
    build(root, board="pynq-z2", fps=fps, verify_limit=4, stop_after="estimates", log=lambda _: None)
    return root


def set_runtime_weights(path: Path) -> None:
    model = onnx.load(str(path))
    for node in model.graph.node:
        if node.op_type.startswith("MVAU"):
            for attribute in list(node.attribute):
                if attribute.name == "runtime_writeable_weights":
                    node.attribute.remove(attribute)
            node.attribute.append(helper.make_attribute("runtime_writeable_weights", 1))
    onnx.save(model, str(path))


def flip_weights(src: Path, dst: Path, seed: int) -> None:
    """A posterior-sample graph: ``src`` with a random tenth of each MVAU's weights flipped."""
    rng = np.random.default_rng(seed)
    model = onnx.load(str(src))
    weight_names = {n.input[1] for n in model.graph.node if n.op_type.startswith("MVAU")}
    for init in model.graph.initializer:
        if init.name in weight_names:
            w = numpy_helper.to_array(init)
            flip = rng.random(w.shape) < 0.1
            w = np.where(flip, 1 - w, w).astype(np.float32)  # BINARY (xnor) weights: 0 <-> 1
            init.CopyFrom(numpy_helper.from_array(w, init.name))
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))


def make_runtime_build(src: Path, dst: Path, samples: int = 2) -> Path:
    shutil.copytree(src, dst)
    set_runtime_weights(dst / "hw" / "dataflow.onnx")
    for k in range(samples):
        flip_weights(dst / "hw" / "dataflow.onnx", dst / "samples" / str(k) / "hw" / "dataflow.onnx", seed=k)
        shutil.copy(dst / "hw" / "dataflow_parent.onnx", dst / "samples" / str(k) / "hw" / "dataflow_parent.onnx")
    return dst


def quiet_deploy(build_dir: Path, out_dir: Path, **options) -> dict:
    return deploy(build_dir, out_dir, log=lambda _: None, **options)


@pytest.fixture(scope="session")
def tfc_build(tmp_path_factory) -> Path:
    """TFC (1-bit input thresholding), folded for 2M frames/s so PE, SIMD > 1."""
    return make_build(tmp_path_factory.mktemp("dep_tfc"), "tfc", 1, seed=21, fps=2_000_000)


@pytest.fixture(scope="session")
def mlp8_build(tmp_path_factory) -> Path:
    """A small MLP whose first MVAU takes the uint8 pixels directly (bipolar weights)."""
    return make_build(tmp_path_factory.mktemp("dep_mlp8"), "mlp:32,16", 8, seed=22, fps=200_000)


@pytest.fixture(scope="session")
def tfc_package(tfc_build, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pkg") / "tfc"
    quiet_deploy(tfc_build, out)
    return out


@pytest.fixture(scope="session")
def runtime_build(tfc_build, tmp_path_factory) -> Path:
    return make_runtime_build(tfc_build, tmp_path_factory.mktemp("rt") / "build")


@pytest.fixture(scope="session")
def runtime_package(runtime_build, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pkg_rt") / "tfc_rt"
    quiet_deploy(runtime_build, out)
    return out
