"""``bnn2hw build`` without Vivado: TFC / SFC (default), LFC / CNV (slow) for pynq-z2."""

from __future__ import annotations

import json

import pytest
from qonnx.core.modelwrapper import ModelWrapper

from bnn2hw.hw import HwError
from bnn2hw.hw.finn_env import is_hw_node, xilinx_tools

from .conftest import build_quietly, make_build_dir

OUTPUTS = ("dataflow.onnx", "dataflow_parent.onnx", "hw_layers.onnx", "folding.json", "estimates.json",
           "verify.json", "report.md", "layers.png")
ESTIMATE_KEYS = ("board", "clock_mhz", "fps", "latency_cycles", "luts", "brams", "dsps", "fits", "layers")


def check_build(root, summary, fps):
    hw = root / "hw"
    for name in OUTPUTS:
        assert (hw / name).is_file(), name
    model = ModelWrapper(str(hw / "dataflow.onnx"))
    assert model.graph.node and all(is_hw_node(n) for n in model.graph.node)
    assert all(n.op_type.endswith(("_hls", "_rtl")) for n in model.graph.node)  # specialised
    est = json.loads((hw / "estimates.json").read_text())
    assert all(key in est for key in ESTIMATE_KEYS)
    assert est["fits"] and est["fps"] >= fps and est["meets_target"]
    assert est["fps"] == pytest.approx(est["clock_mhz"] * 1e6 / max(row["cycles"] for row in est["layers"]))
    assert [row["name"] for row in est["layers"]] == [n.name for n in model.graph.node]
    check = json.loads((hw / "verify.json").read_text())
    assert check["images"] > 0 and check["label_mismatches"] == 0
    folding = json.loads((hw / "folding.json").read_text())
    assert {row["name"] for row in est["layers"]} <= set(folding)
    assert "| layer |" in (hw / "report.md").read_text()
    assert summary["stage"] in ("codegen", "bitfile")
    return model, est


def check_codegen(root, summary, model):
    for node in model.graph.node:
        folder = root / "hw" / summary["sources"][node.name]
        files = {p.suffix for p in folder.iterdir()}
        assert files & {".cpp", ".v", ".sv"}, (node.name, files)
        if node.op_type.endswith("_hls"):
            assert any(p.name.startswith("hls_syn_") and p.suffix == ".tcl" for p in folder.iterdir())


def test_tfc_build_pynq_z2(tfc_build):
    root, summary = tfc_build
    model, est = check_build(root, summary, 100_000)
    assert {n.op_type for n in model.graph.node} >= {"MVAU_hls", "LabelSelect_hls"}
    check_codegen(root, summary, model)


def test_sfc_build_pynq_z2(sfc_build):
    root, summary = sfc_build
    model, est = check_build(root, summary, 50_000)
    check_codegen(root, summary, model)


@pytest.mark.skipif(xilinx_tools().complete, reason="checks the message of a machine without Vivado")
def test_without_vivado_stops_after_codegen_with_a_message(tfc_build):
    _, summary = tfc_build
    assert summary["stage"] == "codegen"
    assert "stopped after code generation" in summary["message"]
    assert any("bitfile" in step for step in summary["pending"])
    assert "Needs Vivado" in (tfc_build[0] / "hw" / "report.md").read_text()


def test_user_folding_file_reproduces_the_build(tfc_build, tmp_path):
    root, summary = tfc_build
    again = make_build_dir(tmp_path, "tfc", seed=1)
    result = build_quietly(again, board="pynq-z2", folding=root / "hw" / "folding.json", verify_limit=5,
                           stop_after="estimates")
    assert result["fps"] == summary["fps"] and result["luts"] == summary["luts"]
    assert result["folding_source"].startswith("user folding")


def test_illegal_user_folding_is_refused(tfc_build, tmp_path):
    root, _ = tfc_build
    folding = json.loads((root / "hw" / "folding.json").read_text())
    folding["MVAU_hls_0"]["SIMD"] = 7  # does not divide MW = 64
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(folding))
    with pytest.raises(HwError, match="illegal folding.*MVAU_hls_0"):
        build_quietly(make_build_dir(tmp_path / "b", "tfc", seed=1), folding=path, stop_after="estimates")


def test_unreachable_rate_names_the_highest_rate(tmp_path):
    root = make_build_dir(tmp_path, "tfc", seed=1)
    with pytest.raises(HwError, match=r"out of reach.*highest rate is [\d,]+ frames/s"):
        build_quietly(root, board="pynq-z2", fps=1e9, stop_after="estimates")


def test_rate_beyond_the_board_names_the_highest_rate_that_fits(tmp_path):
    from bnn2hw.boards import BOARDS
    small = tmp_path / "small.yaml"  # a pretend part with 1,300 LUTs
    small.write_text(BOARDS["pynq-z2"].read_text().replace("LUT: 53200", "LUT: 1300"))
    root = make_build_dir(tmp_path / "b", "tfc", seed=1)
    with pytest.raises(HwError, match=r"does not fit pynq-z2.*LUT [\d,]+ > 1,300.*highest rate that fits pynq-z2 is"):
        build_quietly(root, board=str(small), fps=100_000, stop_after="estimates")


def test_ignore_estimates_builds_the_rate_and_reports_that_it_does_not_fit(tmp_path):
    from bnn2hw.boards import BOARDS
    small = tmp_path / "small.yaml"
    small.write_text(BOARDS["pynq-z2"].read_text().replace("LUT: 53200", "LUT: 1300"))
    root = make_build_dir(tmp_path / "b", "tfc", seed=1)
    est = build_quietly(root, board=str(small), fps=100_000, stop_after="estimates", ignore_estimates=True)
    assert est["fps"] >= 100_000 and est["luts"] > 1300 and est["fits"] is False
    assert "not applied" in (root / "hw" / "report.md").read_text()
    with pytest.raises(HwError, match="needs a target rate"):
        build_quietly(root, board="pynq-z2", ignore_estimates=True)


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(HwError, match="no such model"):
        build_quietly(tmp_path, board="pynq-z2")


@pytest.mark.slow
def test_lfc_build_pynq_z2(tmp_path):
    root = make_build_dir(tmp_path, "lfc", in_shape=(1, 28, 28), seed=3)
    summary = build_quietly(root, board="pynq-z2", fps=150_000, verify_limit=10)
    model, _ = check_build(root, summary, 150_000)
    check_codegen(root, summary, model)


@pytest.mark.slow
def test_cnv_build_pynq_z2(tmp_path):
    root = make_build_dir(tmp_path, "cnv", input_bits=8, seed=4)
    summary = build_quietly(root, board="pynq-z2", fps=3_000, verify_limit=3)
    model, _ = check_build(root, summary, 3_000)
    ops = {n.op_type for n in model.graph.node}
    assert {"FMPadding_rtl", "ConvolutionInputGenerator_rtl", "MVAU_hls", "Pool_hls"} <= ops, ops
    check_codegen(root, summary, model)


@pytest.mark.vivado
@pytest.mark.skipif(not xilinx_tools().complete, reason="needs Vivado and Vitis HLS (XILINX_VIVADO / XILINX_HLS "
                    "or vivado / vitis_hls on PATH)")
def test_tfc_bitfile_with_vivado(tmp_path):
    root = make_build_dir(tmp_path, "tfc", seed=1)
    summary = build_quietly(root, board="pynq-z2", fps=100_000, verify_limit=5)
    assert summary["stage"] == "bitfile" and not summary["pending"]
    assert (root / "hw" / "bitfile" / "finn-accel.bit").is_file()
    assert (root / "hw" / "bitfile" / "finn-accel.hwh").is_file()
    assert json.loads((root / "hw" / "estimates.json").read_text())["measured"]


def test_xnor_accumulators_hold_the_whole_popcount(tfc_build):
    import onnx

    root, _ = tfc_build
    graph = onnx.load(str(root / "hw" / "dataflow.onnx")).graph
    xnor = [n for n in graph.node if n.op_type.startswith("MVAU")
            and next(a.i for a in n.attribute if a.name == "binaryXnorMode")]
    assert xnor
    for node in xnor:
        attrs = {a.name: a for a in node.attribute}
        acc_bits = int(attrs["accDataType"].s.decode()[3:])
        assert 2 ** (acc_bits - 1) - 1 >= attrs["MW"].i, node.name  # popcount in [0, MW] fits
