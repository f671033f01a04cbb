"""What Yosys and nextpnr-ecp5 report, read for bnn2hw: cell counts, fit, Fmax, the critical path.

Contract: ``synth_counts(cells)`` turns Yosys's ECP5 cells into the LUT4 / FF / DP16KD / MULT18
nextpnr will place; ``check_fit`` raises one ``EdaError`` naming each resource over the board's
total; ``pnr_summary(report, clock_mhz)`` gives used / available, achieved Fmax, ``timing_met``
and ``critical_path(report)`` (the slowest clock's worst path: its cells, delay, logic levels);
``passing_clock_mhz(fmax)`` a clock that passes.
"""

from __future__ import annotations

import math
import re

from bnn2hw.eda.verilator import EdaError

REPORT_KINDS = {"LUT4": "TRELLIS_COMB", "FF": "TRELLIS_FF", "DP16KD": "DP16KD", "MULT18": "MULT18X18D"}
SUMMARY_KEYS = {"luts": "LUT4", "ffs": "FF", "brams": "DP16KD", "dsps": "MULT18"}


def synth_counts(cells: dict[str, int]) -> dict[str, int]:
    """LUT4 / FF / DP16KD / MULT18 that a synthesized netlist will take (nextpnr's packing: a CCU2C
    carry cell is 2 LUT4, a TRELLIS_DPR16X4 distributed RAM 2 LUT4 in RAM mode)."""
    n = lambda t: int(cells.get(t, 0))  # noqa: E731
    return {"LUT4": n("LUT4") + 2 * n("CCU2C") + 2 * n("TRELLIS_DPR16X4"), "FF": n("TRELLIS_FF"),
            "DP16KD": n("DP16KD"), "MULT18": n("MULT18X18D")}


def check_fit(counts: dict[str, int], fabric: dict[str, int], board_name: str, top: str) -> None:
    over = [k for k in ("LUT4", "FF", "DP16KD", "MULT18") if counts.get(k, 0) > fabric.get(k, 0)]
    if over:
        figures = "; ".join(f"{k} {counts[k]:,} needed, {fabric[k]:,} on the board "
                            f"({100.0 * counts[k] / max(fabric[k], 1):.0f}%)" for k in over)
        raise EdaError(f"{top} does not fit {board_name} after synthesis: {figures}. Fold for a lower rate "
                       "(--fps), or choose a larger board")


def pnr_summary(report: dict, clock_mhz: float) -> dict:
    """used / available per resource kind, achieved Fmax (slowest clock), timing_met (every clock at
    its constraint: the LPF's, or one nextpnr derives through a PLL; else ``clock_mhz``) and the
    critical path, from nextpnr's report."""
    util = report.get("utilization", {})
    used = {k: int(util.get(cell, {}).get("used", 0)) for k, cell in REPORT_KINDS.items()}
    available = {k: int(util.get(cell, {}).get("available", 0)) for k, cell in REPORT_KINDS.items()}
    clocks = [v for v in report.get("fmax", {}).values() if "achieved" in v]
    fmax_mhz = round(min(float(v["achieved"]) for v in clocks), 2) if clocks else None
    met = all(float(v["achieved"]) >= float(v.get("constraint", clock_mhz)) - 1e-6 for v in clocks)
    return {"used": used, "available": available, "fmax_mhz": fmax_mhz, "clock_mhz": float(clock_mhz),
            "timing_met": met and (fmax_mhz is None or fmax_mhz >= clock_mhz - 1e-6),
            "critical_path": critical_path(report),
            **{key: used[kind] for key, kind in SUMMARY_KEYS.items()}}


def _cell(name: str) -> str:
    """A netlist cell name cut to its design path: what Yosys and nextpnr append (``$abc$...``,
    ``_TRELLIS_FF_Q...``, ``_LUT4_Z``, ``_CCU2C_...``, ``$CCU2_COMB0``) is dropped."""
    return re.split(r"\$|_TRELLIS_|_LUT4_|_CCU2C_|_L6MUX21|_PFUMX|_DP16KD", str(name))[0].strip(".")[:120]


def critical_path(report: dict) -> dict | None:
    """The slowest clock's worst path in nextpnr's report: start and end cells, delay (ns), logic
    and routing shares, logic levels, and the cells along it (at most 12)."""
    paths = report.get("critical_paths", [])
    if not paths:
        return None
    fmax = {k: float(v.get("achieved", 1e9)) for k, v in report.get("fmax", {}).items()}
    worst = min(paths, key=lambda p: fmax.get(str(p.get("from", "")).split(" ")[-1], 1e9))
    steps = worst.get("path", [])
    if not steps:
        return None
    delay = {kind: round(sum(float(st.get("delay", 0)) for st in steps if st.get("type") == kind), 2)
             for kind in ("clk-to-q", "logic", "routing", "setup")}
    cells = []
    for st in steps:
        name = _cell(st.get("to", {}).get("cell", ""))
        if name and (not cells or cells[-1] != name):
            cells.append(name)
    return {"from": _cell(steps[0].get("from", {}).get("cell", "")), "to": _cell(steps[-1].get("to", {}).get("cell", "")),
            "ns": round(sum(delay.values()), 2), "logic_ns": delay["logic"], "routing_ns": delay["routing"],
            "logic_levels": sum(st.get("type") == "logic" for st in steps), "cells": cells[:12]}


def passing_clock_mhz(fmax_mhz: float) -> float:
    """A clock that passes: the achieved Fmax rounded down to 0.5 MHz."""
    return math.floor(fmax_mhz * 2.0) / 2.0

