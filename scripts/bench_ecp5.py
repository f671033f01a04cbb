"""Benchmark of the open-tool bitstream flow on ECP5 boards; writes its section of BENCHMARKS.md.

Contract: ``python scripts/bench_ecp5.py [--out DIR] [--board ulx3s-85f] [--lfc]`` builds
random-weight TFC and SFC (and with ``--lfc`` LFC) on 28×28 images with ``--impl rtl`` for the
board at the rates in ``MODELS`` (``bnn2hw build``: UART shell, synth_ecp5, nextpnr-ecp5,
ecppack), runs the stitched accelerator in Verilator on the Fashion-MNIST test split (seeded
random images when the Debian package is missing) for its measured cycles per frame and its
mismatches against bnn2hw.sim and model.onnx, and reports per model: LUT4 / FF / DP16KD / MULT18
after place and route, achieved Fmax, images/s at the board clock and at Fmax (clock / measured
cycles per frame), the UART-bound rate of the serial shell, and the wall time of synthesis,
place and route and packing. The load average is printed beside the figures. Replaces the
``bench_ecp5`` section of BENCHMARKS.md.
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

MODELS = {"tfc": (1, 100_000), "sfc": (1, 50_000), "lfc": (1, 20_000)}  # name: (input bits, target img/s)


def images() -> tuple[np.ndarray, str]:
    try:
        from bnn2hw.data import load_dataset
        return load_dataset("fashion-mnist").x_test, "Fashion-MNIST test split"
    except Exception:
        return np.random.default_rng(0).integers(0, 256, (2000, 1, 28, 28), dtype=np.uint8), "2,000 random images"


def measure(out: Path, name: str, board: str, data: np.ndarray) -> dict:
    from bnn2hw.eda.rtlsim import run_stitched
    from bnn2hw.hw import build
    from bnn2hw.hw.random_net import random_model_onnx
    bits, fps = MODELS[name]
    root = out / name
    root.mkdir(parents=True, exist_ok=True)
    random_model_onnx(root / "model.onnx", name, bits, (1, 28, 28), 10, seed=7)
    (root / "verify.json").write_text(json.dumps({"dataset": "fashion-mnist"}))
    t0 = time.perf_counter()
    summary = build(root, board=board, fps=fps, verify_limit=50, impl="rtl", log=lambda _: None)
    build_s = time.perf_counter() - t0
    sim = run_stitched(root, data, log=lambda _: None)
    pnr = summary["pnr"]
    cycles = sim["cycles_per_frame"]
    return {"model": name, "fps_target": fps, "pnr": pnr, "cycles": cycles, "expected": sim["expected_cycles_per_frame"],
            "mismatches": sim["label_mismatches"] + sim["reference_label_mismatches"], "images": sim["images"],
            "at_clock": pnr["clock_mhz"] * 1e6 / cycles, "at_fmax": pnr["fmax_mhz"] * 1e6 / cycles,
            "uart": pnr["baud"] / (10 * pnr["uart_frame_bytes"]), "build_s": build_s}


def table(rows: list[dict]) -> str:
    lines = ["| model | LUT4 | FF | DP16KD | MULT18 | Fmax (MHz) | cycles/frame (measured / bottleneck) | img/s at 25 MHz | "
             "img/s at Fmax | UART-bound img/s | synth / P&R / pack (s) | mismatches |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        p, sec = r["pnr"], r["pnr"]["seconds"]
        lines.append(f"| {r['model']} | {p['used']['LUT4']:,} | {p['used']['FF']:,} | {p['used']['DP16KD']} | "
                     f"{p['used']['MULT18']} | {p['fmax_mhz']:.1f} | {r['cycles']:g} / {r['expected']} | "
                     f"{r['at_clock']:,.0f} | {r['at_fmax']:,.0f} | {r['uart']:,.1f} | "
                     f"{sec['synth']:.0f} / {sec['pnr']:.0f} / {sec['pack']:.0f} | {r['mismatches']} of {r['images']:,} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="bnn2hw-bench-ecp5-")))
    parser.add_argument("--board", default="ulx3s-85f")
    parser.add_argument("--lfc", action="store_true", help="also LFC (long: minutes of place and route)")
    args = parser.parse_args()
    data, source = images()
    rows = [measure(args.out, name, args.board, data) for name in (["tfc", "sfc"] + ["lfc"] * args.lfc)]
    load = os.getloadavg()
    rates = ", ".join(f"{r['model']} {r['fps_target']:,} img/s" for r in rows)
    text = (f"{args.board}, random-weight 28×28 models built with `--impl rtl` at the target rates "
            f"({rates}); cycles per frame measured by "
            f"the stitched RTL in Verilator on the {source}. Tools: {rows[0]['pnr']['tools']}. Load average "
            f"{load[0]:.2f} / {load[1]:.2f} ({os.cpu_count()} cores).\n\n" + table(rows))
    print(text)
    if any(r["mismatches"] for r in rows):
        raise SystemExit("mismatches: the RTL disagrees with bnn2hw.sim / model.onnx")
    write_section("bench_ecp5", "ECP5 bitstreams with open tools (`scripts/bench_ecp5.py`)", text)


if __name__ == "__main__":
    main()
