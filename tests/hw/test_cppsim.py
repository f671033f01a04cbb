"""The cppsim rung: FINN's HLS layers compiled with g++ (finn-hlslib) agree with ``bnn2hw.sim``.

Needs finn-hlslib (``.deps/finn-hlslib``, cloned by ``scripts/setup_venv.sh`` when GitHub is
reachable, or the config file's ``[cppsim] hlslib``) and the open ap types; skips with the
message that says how to get them. Compiled node models are cached by content hash
(``~/.cache/bnn2hw/cppsim``): a cold run compiles each HLS node once (about a minute of g++).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bnn2hw import cli
from bnn2hw.eda.cppsim_deps import find_deps
from bnn2hw.eda.verilator import EdaError
from bnn2hw.hw.cppsim import REPORT_FILE, cppsim_layers
from tests.hw.conftest import build_quietly, make_build_dir

IMAGES = 100


def _missing_deps() -> str | None:
    try:
        find_deps()
    except EdaError as err:
        return str(err)
    return None


requires_hlslib = pytest.mark.skipif(_missing_deps() is not None, reason=_missing_deps() or "")


def digits_streams(root, limit: int) -> dict:
    """``bnn2hw.sim``'s value of every tensor of the build's partition on the first digits test images."""
    from bnn2hw.data import load_dataset
    from bnn2hw.sim.accelerator import Accelerator
    return Accelerator.load(root / "hw").node_streams(load_dataset("digits").x_test[:limit])


def hls_tfc(root, input_bits: int, seed: int):
    make_build_dir(root, "tfc", input_bits=input_bits, seed=seed)
    build_quietly(root, board="pynq-z2", fps=100_000, verify_limit=20, impl="hls")
    return root


@pytest.fixture(scope="module")
def tfc1_cppsim(tmp_path_factory):
    root = hls_tfc(tmp_path_factory.mktemp("tfc1_hls"), 1, seed=31)
    return root, cppsim_layers(root, digits_streams(root, IMAGES), find_deps(), log=lambda _: None)


def assert_agrees(report: dict) -> None:
    assert report["images"] == IMAGES and report["label_mismatches"] == 0 and report["passed"]
    assert {r["op_type"] for r in report["nodes"].values()} == {"MVAU_hls", "LabelSelect_hls"}
    for name, result in report["nodes"].items():
        assert (result["images"], result["mismatched_images"]) == (IMAGES, 0), name


@requires_hlslib
def test_tfc_1bit_hls_nodes_agree_with_the_simulator(tfc1_cppsim):
    root, report = tfc1_cppsim
    assert_agrees(report)
    assert json.loads((root / REPORT_FILE).read_text())["nodes"].keys() == report["nodes"].keys()


@requires_hlslib
def test_tfc_8bit_input_hls_nodes_agree_with_the_simulator(tmp_path):
    root = hls_tfc(tmp_path, 8, seed=32)
    assert_agrees(cppsim_layers(root, digits_streams(root, IMAGES), find_deps(), log=lambda _: None))


def flip_one_weight(node_name: str):
    """An ``edit_model`` that flips the first weight of ``node_name`` (binary 0/1 or bipolar ±1)."""
    def edit(model):
        node = next(n for n in model.graph.node if n.name == node_name)
        weights = model.get_initializer(node.input[1]).copy()
        first = weights.flat[0]
        weights.flat[0] = 1 - first if set(np.unique(weights)) <= {0, 1} else -first
        model.set_initializer(node.input[1], weights)
    return edit


@requires_hlslib
def test_a_flipped_weight_in_the_cppsim_copy_is_caught(tfc1_cppsim):
    root, _ = tfc1_cppsim
    report = cppsim_layers(root, digits_streams(root, IMAGES), find_deps(), log=lambda _: None,
                           edit_model=flip_one_weight("MVAU_hls_1"))
    assert all(r["cached"] for r in report["nodes"].values())  # same sources: nothing recompiled
    assert report["nodes"]["MVAU_hls_1"]["mismatched_images"] > 0 and not report["passed"]
    assert all(r["mismatched_images"] == 0 for name, r in report["nodes"].items() if name != "MVAU_hls_1")


@requires_hlslib
def test_cli_cppsim_reports_and_exits_0(tfc1_cppsim, capsys):
    root, _ = tfc1_cppsim
    assert cli.main(["simulate", str(root), "--cppsim", "--limit", "5"]) == 0
    assert "0 label mismatches" in capsys.readouterr().out
