"""The Verilator rung's errors: one clear message each, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from bnn2hw import cli
from bnn2hw.eda import verilator
from bnn2hw.eda.verilator import EdaError
from tests.eda.conftest import requires_verilator


def test_rtl_layers_on_an_hls_build_names_the_fix(tmp_path, capsys):
    (tmp_path / "hw").mkdir()
    assert cli.main(["simulate", str(tmp_path), "--rtl-layers", "--dataset", "digits"]) == 2
    err = capsys.readouterr().err
    assert "manifest.json" in err and "--impl rtl" in err and "Traceback" not in err


@pytest.mark.parametrize("option", [["--stall", "1.5"], ["--limit", "0"]])
def test_bad_counts_are_refused(option, tmp_path, capsys):
    assert cli.main(["simulate", str(tmp_path), "--rtl-layers", "--dataset", "digits", *option]) == 2
    assert option[0] in capsys.readouterr().err


def test_missing_verilator_says_how_to_install(monkeypatch):
    monkeypatch.setattr(verilator.shutil, "which", lambda _name: None)
    with pytest.raises(EdaError, match="apt-get install verilator"):
        verilator.verilator_binary()


@requires_verilator
def test_a_verilog_error_shows_the_compiler_lines(tmp_path):
    broken = tmp_path / "broken.sv"
    broken.write_text("module broken(input clk); wire x = ; endmodule\n")
    shell = "module bnn2hw_tb_top(input clk); broken b(.clk(clk)); endmodule\n"
    with pytest.raises(EdaError, match="%Error") as info:
        verilator.build([broken], shell, 8, 8, cache_dir=tmp_path / "cache")
    assert "broken.sv" in str(info.value)
    assert not any((tmp_path / "cache").iterdir())  # no half-built cache entry


def test_a_node_without_rtl_is_named():
    from onnx import helper

    from bnn2hw.hw.rtl.specialize import non_rtl_nodes
    graph = helper.make_graph([helper.make_node("StreamingMaxPool_hls", ["x"], ["y"], name="pool0"),
                               helper.make_node("Thresholding_rtl", ["y"], ["z"], name="t0")], "g", [], [])
    assert non_rtl_nodes(type("M", (), {"graph": graph})()) == ["StreamingMaxPool_hls 'pool0'"]


FIFO_TB_TOP = """module bnn2hw_tb_top (
	input clk, input rst_n,
	input [31:0] in_tdata, input in_tvalid, output in_tready,
	output [31:0] out_tdata, output out_tvalid, input out_tready,
	input awvalid, output awready, input [31:0] awaddr,
	input wvalid, output wready, input [31:0] wdata,
	output bvalid, input bready
);
	assign awready = 1'b0;  assign wready = 1'b0;  assign bvalid = 1'b0;
	bnn2hw_axis_fifo #(.W(32), .DEPTH(2)) dut (.clk, .rst_n, .s_axis_tdata(in_tdata), .s_axis_tvalid(in_tvalid),
		.s_axis_tready(in_tready), .m_axis_tdata(out_tdata), .m_axis_tvalid(out_tvalid), .m_axis_tready(out_tready));
endmodule
"""


@requires_verilator
def test_relative_source_paths_build_and_run_from_another_directory(tmp_path, monkeypatch):
    """A user's relative build directory: Verilator runs in the cache, so the paths must be made absolute."""
    from bnn2hw.assets import hw_sources_dir
    (tmp_path / "user" / "build").mkdir(parents=True)
    shutil.copy(hw_sources_dir() / "rtl" / "bnn2hw_axis_fifo.sv", tmp_path / "user" / "build" / "fifo.sv")
    monkeypatch.chdir(tmp_path / "user")
    exe = verilator.build([Path("build/fifo.sv")], FIFO_TB_TOP, cache_dir=Path("empty-cache"))
    words = np.arange(40, dtype=np.uint32).reshape(40, 1)
    result = verilator.run(exe.relative_to(Path.cwd()), words, 40, 32, Path("build"), stall=0.3, seed=1)
    assert np.array_equal(result.words, words)
