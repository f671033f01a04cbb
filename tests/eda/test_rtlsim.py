"""The stitched accelerator in Verilator: whole test splits, stalls, cycles, runtime weights.

TFC on digits (1-bit and 8-bit input, ``--impl rtl``): the whole test split with and without
random stalls, 0 label mismatches against ``bnn2hw.sim`` and ``model.onnx``, measured cycles per
frame within 5% of the bottleneck's; posterior samples written over the shared AXI-lite port
agree with their own simulation; a random small CNN agrees on 100 images.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from bnn2hw import cli
from bnn2hw.eda.rtlsim import REPORT_FILE, run_stitched
from tests.eda.conftest import build_modules, digits_test_images, requires_verilator

pytestmark = requires_verilator


def assert_stitched_ok(report: dict) -> None:
    assert report["label_mismatches"] == 0 and report["reference_label_mismatches"] == 0, report
    assert report["passed"]


@pytest.mark.parametrize("fixture", ["tfc_rtl", "tfc8_rtl"])
def test_stitched_tfc_whole_split_with_and_without_stalls(fixture, request):
    root = request.getfixturevalue(fixture)
    images = digits_test_images()
    steady = run_stitched(root, images, log=lambda _: None)
    assert_stitched_ok(steady)
    assert steady["images"] == 359
    assert abs(steady["cycles_per_frame"] - steady["expected_cycles_per_frame"]) <= 0.05 * steady["expected_cycles_per_frame"]
    assert steady["latency_cycles"] > steady["expected_cycles_per_frame"]
    folding = json.loads((root / "hw" / "folding.json").read_text())
    assert [folding[n]["inFIFODepths"][0] for n in folding if n != "Defaults"] == steady["fifo_depths"][:-1]
    # the stitched top's own modules: FIFOs on every edge, width converters where words differ
    top = (root / "hw" / "rtl" / "accelerator.sv").read_text()
    assert {"bnn2hw_axis_fifo", "bnn2hw_dwc"} <= build_modules(root)
    assert "bnn2hw_axis_fifo #(" in top and "bnn2hw_dwc #(" in top
    stalled = run_stitched(root, images, stall=0.3, seed=9, log=lambda _: None)
    assert_stitched_ok(stalled)
    assert json.loads((root / REPORT_FILE).read_text())["stall"] == 0.3


def make_weight_samples(root, count: int) -> None:
    """``BUILD/samples/<k>/hw``: the build with MVAU weight signs flipped at random (same thresholds)."""
    rng = np.random.default_rng(3)
    for k in range(count):
        hw = root / "samples" / str(k) / "hw"
        hw.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / "hw" / "dataflow_parent.onnx", hw / "dataflow_parent.onnx")
        model = onnx.load(root / "hw" / "dataflow.onnx")
        weights = {n.input[1] for n in model.graph.node if n.op_type.startswith("MVAU")}
        for init in model.graph.initializer:
            if init.name in weights:
                w = numpy_helper.to_array(init)
                flip = rng.random(w.shape) < 0.2
                values = np.where(flip, 1 - w, w) if set(np.unique(w)) <= {0, 1} else np.where(flip, -w, w)
                init.CopyFrom(numpy_helper.from_array(values.astype(w.dtype), init.name))
        onnx.save(model, hw / "dataflow.onnx")


def test_runtime_weights_of_posterior_samples_over_axilite(tfc_rtl, capsys):
    make_weight_samples(tfc_rtl, 2)
    status = cli.main(["simulate", str(tfc_rtl), "--rtl", "--ensemble", "2", "--limit", "120"])
    out = capsys.readouterr().out
    assert status == 0, out
    report = json.loads((tfc_rtl / REPORT_FILE).read_text())
    assert [s["label_mismatches"] for s in report["ensemble"]["samples"]] == [0, 0]
    assert report["ensemble"]["vote_agreement"] < 1.0  # the samples really differ
    assert "posterior sample 1 over AXI-lite: 0 mismatches" in out


def test_random_small_cnn(tmp_path):
    from bnn2hw.compile import integer_network, to_qonnx
    from bnn2hw.compile.qonnx_export import save
    from bnn2hw.hw import build
    from tests.netgen import random_cnn, random_images
    model, weights = random_cnn(np.random.default_rng(44), 1, (3, 8, 8), None, classes=10)
    save(to_qonnx(integer_network(model, weights)), tmp_path / "model.onnx")
    (tmp_path / "verify.json").write_text(json.dumps({"dataset": "digits", "label_mismatches": 0}))
    build(tmp_path, board="pynq-z2", fps=20_000, verify_limit=4, impl="rtl", log=lambda _: None)
    report = run_stitched(tmp_path, random_images(np.random.default_rng(1044), 100, (3, 8, 8)), stall=0.2,
                          log=lambda _: None)
    assert_stitched_ok(report)
    assert report["images"] == 100
