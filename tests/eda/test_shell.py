"""The UART shell: parameters and wrapper of a build, and shell + accelerator in Verilator with a
bit-level UART on the whole digits test split (0 mismatches; corrupted frames give error replies)."""

from __future__ import annotations

import json

import pytest

from bnn2hw.eda import shell, shell_run
from bnn2hw.eda.verilator import EdaError
from tests.eda.conftest import declared_modules, digits_test_images, requires_verilator


def test_crc8_and_reply_parsing():
    assert shell.crc8(b"123456789") == 0xF4          # CRC-8/SMBUS check value
    assert shell.crc8(b"") == 0
    data = shell.frame(b"\x01\x02")
    assert data[0] == shell.START and data[1:3] == b"\x01\x02" and data[3] == shell.crc8(b"\x01\x02")
    replies = shell.parse_replies(bytes([0x5A, 7, shell.crc8(b"\x07"), 0xEE, 2, 0x33]), 1)
    assert replies == [("ok", b"\x07", True), ("error", 2), ("junk", 0x33)]


@requires_verilator
def test_parameters_and_generated_wrapper(tfc_rtl, tmp_path):
    params = shell.shell_parameters(tfc_rtl, 25_000_000, 115_200)
    payloads, outputs = shell.image_payloads(tfc_rtl, digits_test_images(2), params)
    assert payloads.shape == (2, params["IN_BYTES"]) and outputs.shape == (2, shell.out_bytes(params))
    assert params["IN_BYTES"] % -(-params["IN_WIDTH"] // 8) == 0
    assert params["OUT_WORDS"] == 1 and params["TIMEOUT_CYCLES"] == 25_000_000 // 50
    with pytest.raises(EdaError, match="baud rate"):
        shell.shell_parameters(tfc_rtl, 25_000_000, 10_000_000)
    files = shell.write_shell(tfc_rtl, params, tmp_path)
    assert files[-1].name == f"{shell.TOP}.sv" and all(f.is_file() for f in files)
    top = files[-1].read_text()
    assert "bnn2hw_uart_shell #(.CLK_HZ(25000000), .BAUD(115200)" in top
    adapter = (tmp_path / f"{shell.ADAPTER}.sv").read_text()
    assert ".s_axilite_AWVALID('0)" in adapter          # runtime-weight port tied off


@requires_verilator
def test_shell_matches_sim_on_digits_split(tfc_rtl, tmp_path):
    images = digits_test_images()
    report = shell_run.simulate_shell(tfc_rtl, images, cycles_per_bit=8, log=lambda _: None)
    assert report["images"] == len(images) == 359
    assert report["wrong_replies"] == 0 and report["missing_replies"] == 0 and report["extra_replies"] == 0
    assert report["error_frames_detected"] == report["error_frames"] == len(shell_run.bad_frames(False))
    assert report["recovered"] == len(shell_run.bad_frames(False)) and report["passed"]
    # the UART is the bottleneck: one image per frame time on the line
    assert report["cycles_per_image"] == pytest.approx(report["line_cycles_per_image"], rel=0.02)
    assert json.loads((tfc_rtl / shell.REPORT_FILE).read_text())["passed"]
    sources = shell.write_shell(tfc_rtl, shell.sim_parameters(tfc_rtl, 8), tmp_path)  # what the model compiled
    assert {"bnn2hw_uart_shell", "bnn2hw_uart_rx", "bnn2hw_uart_tx", "bnn2hw_uart_framer", "bnn2hw_uart_replier",
            "bnn2hw_crc8", "accelerator"} <= declared_modules(sources)


@requires_verilator
def test_shell_at_3_mbaud_on_a_100_mhz_clock(tfc_rtl, tmp_path):
    """The bitstream's own line rate (``estimates.json["pnr"]``): 3,000,000 baud from 100 MHz, 33 cycles a bit."""
    import shutil
    build = tmp_path / "b"
    shutil.copytree(tfc_rtl, build)
    est_path = build / "hw" / "estimates.json"
    est = json.loads(est_path.read_text())
    est["pnr"] = {"baud": 3_000_000, "clk_hz": 100_000_000, "clock_mhz": 100.0}
    est_path.write_text(json.dumps(est))
    assert shell.line_rate(build) == (100_000_000, 3_000_000)
    report = shell_run.simulate_shell(build, digits_test_images(60), log=lambda _: None)
    assert (report["baud"], report["clk_hz"], report["cycles_per_bit"]) == (3_000_000, 100_000_000, 33)
    assert report["wrong_replies"] == 0 and report["missing_replies"] == 0 and report["passed"]
    assert report["board_images_per_s"] == pytest.approx(100e6 / (33 * 10 * report["frame_bytes"]), rel=1e-3)
