"""Synthesized figures beside FINN's estimates: ``estimates.json`` and ``report.md`` of a build.

Contract: ``record_synthesis(hw_dir, synth)`` takes the dict ``bnn2hw.eda.yosys.synthesize``
returns for the stitched ``accelerator`` (and, when run, its ``netlist_check``) and writes it into
``hw_dir/estimates.json`` under ``synthesized`` (``tool``, ``part``, ``luts`` = Yosys's LUTs +
LUTRAM + inverters, the figure FINN's LUT estimate stands for, ``ffs``, ``brams`` (BRAM18),
``dsps``, ``carry``, ``fits``, ``utilization``, ``seconds``, ``netlist_check``), with
``figures``: ``{"estimates": "FINN analytical", "synthesized": <tool>}`` saying which is which;
and replaces the "Synthesis" section of ``hw_dir/report.md`` with a per-layer table (FINN's LUT
and BRAM18 estimate beside the synthesized LUT, FF and BRAM18 of the same node; FIFOs, width
converters and the top's glue as rows of their own) and the fit verdict. Returns the section.
"""

from __future__ import annotations

import json
from pathlib import Path

START, END = "<!-- synthesis:start -->", "<!-- synthesis:end -->"


def _layer_rows(est: dict, synth: dict) -> list[str]:
    finn = {row["name"]: row for row in est.get("layers", [])}
    rows = []
    for name, figures in synth["per_layer"].items():
        f = finn.get(name)
        estimate = f"{f['LUT']:,.0f} | {f['BRAM18']:g}" if f else "– | –"
        rows.append(f"| {name} | {estimate} | {figures.get('luts_total', 0):,} | {figures.get('ffs', 0):,} | "
                    f"{figures.get('brams', 0):g} |")
    return rows


def synthesis_section(est: dict, synth: dict) -> str:
    check = synth.get("netlist_check")
    verdict = ("**fits**" if synth.get("fits") else "**does NOT fit**") if synth.get("fits") is not None else "–"
    lines = [START, "## Synthesis (Yosys: measured, not estimated)", "",
             f"- {synth['tool']}, `{synth['options']}` for {synth['part']} ({synth['family']}), {synth['seconds']:.1f} s",
             f"- whole accelerator: **{synth['luts_total']:,} LUT** (FINN estimate {est['luts']:,.0f}), "
             f"{synth['ffs']:,} FF, {synth['brams']:g} BRAM18 (estimate {est['brams']:g}), {synth['dsps']} DSP, "
             f"{synth['carry']} CARRY; on {est['board']}: {verdict}"]
    if check and "skipped" in check:
        lines.append(f"- post-synthesis netlist check not run: {check['skipped']}")
    elif check:
        lines.append(f"- post-synthesis netlist in Verilator: {check['images']} images, "
                     f"**{check['mismatched_images']} mismatches** with bnn2hw.sim")
    lines += ["", "| layer | FINN LUT | FINN BRAM18 | synthesized LUT | FF | BRAM18 |", "|---|---:|---:|---:|---:|---:|",
              *_layer_rows(est, synth), "", END]
    return "\n".join(lines)


def record_synthesis(hw_dir: Path, synth: dict) -> str:
    hw_dir = Path(hw_dir)
    est_path = hw_dir / "estimates.json"
    est = json.loads(est_path.read_text())
    keys = ("tool", "part", "family", "ffs", "brams", "dsps", "carry", "fits", "utilization", "seconds",
            "netlist_check")
    est["synthesized"] = {"luts": synth["luts_total"], **{k: synth.get(k) for k in keys}}
    est["figures"] = {"estimates": "FINN analytical (luts, brams, dsps, layers)", "synthesized": synth["tool"]}
    est_path.write_text(json.dumps(est, indent=2) + "\n")
    section = synthesis_section(est, synth)
    report = hw_dir / "report.md"
    text = report.read_text() if report.is_file() else ""
    if START in text and END in text:
        text = text[:text.index(START)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    report.write_text(text)
    return section
