"""``BUILD/hw/report.md`` and ``BUILD/hw/layers.png``: the build summary for people.

Contract: ``write_report(hw_dir, estimates, verify, produced, pending)`` writes a markdown
report (rate, latency, resources against the board, the FINN-vs-QONNX check, a per-layer
table of folding, cycles and resources, what was produced and what still needs Vivado) and a
bar chart (matplotlib, Agg backend) of cycles and LUTs per layer; returns the report path.
Pure presentation: reads only the dicts it is given.
"""

from __future__ import annotations

from pathlib import Path

REPORT_FILE, CHART_FILE = "report.md", "layers.png"


def _chart(path: Path, layers: list[dict], clock_mhz: float, fps: float) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = [row["name"] for row in layers]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6.0, 0.45 * len(names) + 2), 6.5), sharex=True)
    top.bar(names, [row["cycles"] for row in layers], color="tab:blue")
    top.axhline(clock_mhz * 1e6 / fps, color="tab:red", linestyle="--", label="bottleneck")
    top.set_ylabel("cycles / frame")
    top.legend(loc="lower right")
    bottom.bar(names, [row["LUT"] for row in layers], color="tab:green")
    bottom.set_ylabel("LUTs (estimate)")
    bottom.tick_params(axis="x", labelrotation=75, labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _folding(row: dict) -> str:
    return " ".join(f"{k}={row[k]}" for k in ("PE", "SIMD") if k in row) + (
        " parallel_window" if row.get("parallel_window") else "")


def _table(layers: list[dict]) -> list[str]:
    lines = ["| layer | op | folding | cycles | LUT | BRAM18 | URAM | DSP |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for row in layers:
        lines.append(f"| {row['name']} | {row['op_type']} | {_folding(row)} | {row['cycles']:,} | "
                     f"{row['LUT']:,.0f} | {row['BRAM18']:g} | {row['URAM']:g} | {row['DSP']:g} |")
    return lines


def _resources(est: dict) -> list[str]:
    lines = ["| resource | estimate | board | use |", "|---|---:|---:|---:|"]
    for key, kind in (("luts", "LUT"), ("brams", "BRAM18"), ("urams", "URAM"), ("dsps", "DSP")):
        lines.append(f"| {kind} | {est[key]:,.0f} | {est['board_resources'][kind]:,} | "
                     f"{100 * est['utilization'][kind]:.1f}% |")
    return lines


def _pnr(pnr: dict | None) -> list[str]:
    """The ECP5 place-and-route figures (measured by nextpnr), when the build made a bitstream."""
    if not pnr:
        return []
    rows = [f"| {kind} | {pnr['used'][kind]:,} | {pnr['available'][kind]:,} | "
            f"{100 * pnr['used'][kind] / max(pnr['available'][kind], 1):.1f}% |" for kind in pnr["used"]]
    seconds = ", ".join(f"{k} {v:.1f} s" for k, v in (pnr.get("seconds") or {}).items())
    return ["## Place and route (ECP5, open tools: measured)", "", "| resource | used | available | share |",
            "|---|---:|---:|---:|", *rows, "",
            f"- achieved Fmax **{pnr['fmax_mhz']:.1f} MHz** at a {pnr['clock_mhz']:g} MHz clock "
            f"(timing met: {pnr['timing_met']}); {seconds}",
            f"- bitstream `{pnr['bitfile']}`; UART shell at {pnr['baud']} baud ({pnr['uart_frame_bytes']} bytes a frame)",
            ""]


def write_report(hw_dir: Path, est: dict, verify: dict | None, produced: list[str], pending: list[str]) -> Path:
    hw_dir = Path(hw_dir)
    _chart(hw_dir / CHART_FILE, est["layers"], est["clock_mhz"], est["fps"])
    lines = [f"# bnn2hw build for {est['board']} ({est['part']})", "",
             f"- rate: **{est['fps']:,.0f} frames/s** at {est['clock_mhz']:g} MHz "
             f"(bottleneck {est['bottleneck']}, {est['max_cycles']:,} cycles/frame)",
             f"- latency: {est['latency_cycles']:,} cycles = {est['latency_us']:,.1f} µs",
             f"- folding: {est.get('folding_source', '')}",
             f"- layers: {'RTL (bnn2hw + finn-rtllib; sources in rtl/)' if est.get('impl') == 'rtl' else 'FINN HLS'}",
             f"- fits the board: **{'yes' if est['fits'] else 'NO'}** (limit {100 * est['max_utilization']:g}% "
             "of each resource)", f"- estimates: {est['source']}", ""]
    if verify is not None:
        lines += [f"- check: {verify['candidate']} vs {verify['reference']}: {verify['images']} images, "
                  f"**{verify['label_mismatches']} label mismatches**", ""]
    lines += ["## Resources", "", *_resources(est), "", *_pnr(est.get("pnr")), "## Layers", "", *_table(est["layers"]), "",
              f"![cycles and LUTs per layer]({CHART_FILE})", "", "## Produced", ""]
    lines += [f"- `{item}`" for item in produced] + [""]
    if pending:
        lines += ["## Needs Vivado / Vitis HLS (not run)", ""] + [f"- {item}" for item in pending] + [""]
    path = hw_dir / REPORT_FILE
    path.write_text("\n".join(lines))
    return path
