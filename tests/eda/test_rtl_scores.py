"""``--impl rtl --output scores``: the stitched accelerator, its ensembles and the UART shell carry
the last layer's integer scores, equal to ``bnn2hw.sim``'s and ``model.onnx``'s.

One TFC on digits (random weights, 1-bit input, runtime weights, a 5-lane last layer: two 40-bit
output words per image), with random stalls; posterior samples over AXI-lite with their averaged
probabilities; the UART shell's reply bytes and the deploy driver's uart backend; and negative
controls (a mutated model.onnx, the wrong weights written over AXI-lite) that must fail. The
decoding of output words is also checked alone, for signed and multi-chunk words, without Verilator.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from bnn2hw import cli
from bnn2hw.eda import rtlsim, shell, shell_run
from bnn2hw.eda.rtlsim import REPORT_FILE, load_design, one_pass, run_stitched
from bnn2hw.sim.accelerator import Accelerator
from bnn2hw.sim.api import output_scale_for
from bnn2hw.sim.compare import reference_outputs
from bnn2hw.sim.ensemble import ensemble_metrics
from tests.eda.conftest import digits_test_images, requires_verilator
from tests.eda.test_rtlsim import make_weight_samples



@pytest.mark.parametrize("name, elems", [("INT12", 3), ("INT8", 5), ("UINT7", 10), ("INT16", 1)])
def test_output_words_decode_to_the_values_packed(name, elems):
    """``output_values`` inverts FINN's packing for signed, odd-width and multi-chunk words (no Verilator)."""
    from types import SimpleNamespace

    from bnn2hw.eda.rtl_layers import stream_words
    from bnn2hw.sim.datatypes import int_type
    dtype = int_type(name)
    values = np.random.default_rng(7).integers(dtype.min, dtype.max + 1, (6, 2 * elems))
    width = -(-elems * dtype.bits // 8) * 8
    words = stream_words(values, dtype, elems, width)                    # (6, 2, chunks), as the testbench returns
    kernel = SimpleNamespace(output_type=dtype, out_word_elems=lambda: elems)
    decoded = rtlsim.output_values(words.reshape(-1, words.shape[-1]), kernel, 6)
    assert np.array_equal(decoded, values)
    mutated = words.copy()
    mutated[0, 0, 0] ^= 1
    assert not np.array_equal(rtlsim.output_values(mutated.reshape(-1, words.shape[-1]), kernel, 6), values)


@requires_verilator
def test_stitched_scores_equal_sim_and_model_onnx(tfc_scores_rtl):
    last = json.loads((tfc_scores_rtl / "hw" / "rtl" / "manifest.json").read_text())["nodes"][-1]
    assert last["op_type"] == "MVAUBinary_rtl" and last["out_elems"] == 5 and last["out_width"] == 40
    images = digits_test_images(150)
    design = load_design(tfc_scores_rtl)
    result = one_pass(design, design.executable(), tfc_scores_rtl / "hw", images, stall=0.3, seed=4)
    rtl, sim = result["rtl"], Accelerator.load(tfc_scores_rtl / "hw").run(images)
    ref_labels, ref_scores = reference_outputs(tfc_scores_rtl / "model.onnx", images)
    assert rtl.raw_scores.shape == (150, 10) and not result["bad"].any()
    assert np.array_equal(rtl.raw_scores, sim.raw_scores)      # the popcounts p the hardware holds
    assert np.array_equal(rtl.scores, ref_scores)              # 2p - MW: model.onnx's last-layer integers
    assert np.array_equal(rtl.labels[:, 0], ref_labels) and np.array_equal(result["labels"], ref_labels)
    assert len(np.unique(rtl.labels)) > 1                      # not a constant network
    report = run_stitched(tfc_scores_rtl, images, stall=0.2, seed=1, log=lambda _: None)
    assert report["output"] == "scores" and report["passed"], report
    assert report["label_mismatches"] == report["reference_label_mismatches"] == 0
    assert report["reference_score_mismatches"] == 0


@requires_verilator
def test_mutated_model_onnx_is_caught(tfc_scores_rtl, tmp_path, capsys):
    """Negative control: one weight of model.onnx's last layer flipped changes every image's score
    of that class by 2, which the RTL does not compute; the check must fail (exit status 1)."""
    copy = tmp_path / "mutated"
    shutil.copytree(tfc_scores_rtl, copy, ignore=shutil.ignore_patterns("samples"))
    model = onnx.load(copy / "model.onnx")
    last = [n for n in model.graph.node if n.op_type == "MatMul"][-1]
    init = next(i for i in model.graph.initializer if i.name == last.input[1])
    weights = numpy_helper.to_array(init).copy()
    weights.flat[0] = -weights.flat[0]
    init.CopyFrom(numpy_helper.from_array(weights, init.name))
    onnx.save(model, copy / "model.onnx")
    assert cli.main(["simulate", str(copy), "--rtl", "--limit", "40"]) == 1
    report = json.loads((copy / REPORT_FILE).read_text())
    assert report["label_mismatches"] == 0 and report["reference_score_mismatches"] == 40 and not report["passed"]
    assert "40 score mismatches with model.onnx" in capsys.readouterr().err


@requires_verilator
def test_scores_ensemble_over_axilite_equals_per_sample_simulation(tfc_scores_rtl, capsys):
    make_weight_samples(tfc_scores_rtl, 3)
    assert cli.main(["simulate", str(tfc_scores_rtl), "--rtl", "--ensemble", "3", "--limit", "100"]) == 0
    out = capsys.readouterr().out
    ens = json.loads((tfc_scores_rtl / REPORT_FILE).read_text())["ensemble"]
    assert [s["label_mismatches"] for s in ens["samples"]] == [0, 0, 0]
    assert ens["probabilities_max_abs_difference"] == 0.0 and ens["label_mismatches_with_sim_ensemble"] == 0
    assert ens["vote_agreement"] < 1.0                          # the samples really differ
    assert "max |RTL - bnn2hw.sim| 0," in out
    # the averaged distribution is the simulator's: each sample's integer scores, softmax-averaged
    from bnn2hw.data import load_dataset
    images, labels = digits_test_images(100), load_dataset("digits").y_test[:100]
    members = [Accelerator.load(tfc_scores_rtl / "samples" / str(k) / "hw").run(images).scores for k in range(3)]
    expected = ensemble_metrics(members, labels, output_scale_for(tfc_scores_rtl)[0])
    assert ens["nll"] == round(expected["nll"], 6) and ens["accuracy"] == round(expected["accuracy"], 6)


@requires_verilator
def test_wrong_weights_over_axilite_are_caught(tfc_scores_rtl, monkeypatch):
    """Negative control: the mode's weights written before every pass while each sample's simulation
    is expected: word mismatches, and averaged probabilities unlike the simulator's."""
    make_weight_samples(tfc_scores_rtl, 2)
    mode = Accelerator.load(tfc_scores_rtl / "hw")
    writes = rtlsim.Design.axi_writes
    monkeypatch.setattr(rtlsim.Design, "axi_writes", lambda self, accelerator: writes(self, mode))
    report = run_stitched(tfc_scores_rtl, digits_test_images(60), ensemble=2, log=lambda _: None)
    ens = report["ensemble"]
    assert all(s["label_mismatches"] > 0 for s in ens["samples"]) and not report["passed"]
    assert ens["probabilities_max_abs_difference"] > 1e-3


@requires_verilator
def test_uart_shell_replies_with_the_scores(tfc_scores_rtl):
    params = shell.sim_parameters(tfc_scores_rtl, 8)
    assert params["OUT_WIDTH"] == 40 and params["OUT_WORDS"] == 2 and shell.out_bytes(params) == 10
    images = digits_test_images(40)
    _, outputs = shell.image_payloads(tfc_scores_rtl, images, params)
    # the expected reply bytes are the simulator's popcounts, one byte each, little-endian words
    sim = Accelerator.load(tfc_scores_rtl / "hw").run(images)
    assert np.array_equal(outputs.astype(np.int64), sim.raw_scores)
    report = shell_run.simulate_shell(tfc_scores_rtl, images, cycles_per_bit=8, log=lambda _: None)
    assert report["wrong_replies"] == 0 and report["missing_replies"] == 0 and report["passed"], report
    assert report["reply_bytes"] == 12


@requires_verilator
def test_driver_uart_backend_decodes_the_scores(tfc_scores_rtl, tmp_path):
    pytest.importorskip("serial")
    from bnn2hw.deploy.package import load_driver
    from tests.deploy.conftest import quiet_deploy
    package = tmp_path / "package"
    quiet_deploy(tfc_scores_rtl, package, ensemble=0)
    driver = load_driver(package)
    spec = driver.load_spec(package)
    assert spec["output"]["kind"] == "scores" and spec["output"]["score_map"] == {"multiply": 2, "add": -64}
    images = digits_test_images(30)
    process, port = shell_run.serve_stream(tfc_scores_rtl, cycles_per_bit=8)
    try:
        backend = driver.UartBackend(spec, package, 10, port=port)
        try:
            values = driver.member_outputs(backend, driver.check_images(images, spec), spec)
            with pytest.raises(driver.DriverError, match="no weight port: --ensemble"):
                backend.load_weights({})
        finally:
            backend.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
        os.close(process.slave_fd)
        shutil.rmtree(process.workdir, ignore_errors=True)
    ref_labels, ref_scores = reference_outputs(tfc_scores_rtl / "model.onnx", images)
    assert np.array_equal(driver.output_scores(values, spec), ref_scores)
    assert np.array_equal(np.argmax(values, axis=1), ref_labels)
