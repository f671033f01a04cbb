"""Benchmark of ``bnn2hw build``: estimated rate and resources at the folding bnn2hw chooses for the
published FINN / BNN-PYNQ rates on PYNQ-Z1, beside the published figures, and the build's wall time.

Usage: ``python scripts/bench_build.py [--models tfc,lfc,cnv] [--board pynq-z1] [--no-write]``
prints a markdown table and (unless ``--no-write``) puts it into BENCHMARKS.md as the
``bench_build`` section (``benchmarks_md.write_section``). Networks are the BNN-PYNQ topologies
with random ±1 weights (hardware cost does not depend on the weight values): TFC / LFC on 28x28
1-bit input, CNV on 3x32x32 8-bit input. A rate that does not fit the board is reported with
the highest rate that does (bnn2hw's own choice when no rate is given); the wall time is that of
the build that produced the row. Each row carries the 1-minute load average taken before it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks_md import write_section
from bnn2hw.hw import HwError, build
from bnn2hw.hw.random_net import random_model_onnx

# name: (topology, input bits, input shape, published rate img/s, published LUT, published BRAM36/18 as given)
PUBLISHED = {
    "tfc": ("tfc", 1, (1, 28, 28), 837_000, None, None),
    "lfc": ("lfc", 1, (1, 28, 28), 356_633, 28_360, 110),
    "cnv": ("cnv", 8, (3, 32, 32), 9_150, 26_072, None),
}
SOURCE = ("published: BNN-PYNQ w1a1 overlays on PYNQ-Z1 (Xilinx/BNN-PYNQ; FINN paper, Umuroglu et al. 2017): "
          "LFC-w1a1 356,633 img/s, 28,360 LUT, 110 BRAM; CNV-w1a1 9,150 img/s, 26,072 LUT; TFC-w1a1 837k img/s")


def _fmt(value, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def bench_one(name: str, board: str, workdir: Path) -> dict:
    topology, bits, shape, rate, luts, brams = PUBLISHED[name]
    root = workdir / name
    random_model_onnx(root / "model.onnx", topology, bits, shape, 10, seed=0)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    note = ""
    try:
        summary = build(root, board=board, fps=rate, stop_after="codegen", verify_limit=4, log=lambda _: None)
    except HwError as err:
        note = str(err).split("; ")[-1]
        t0 = time.perf_counter()
        summary = build(root, board=board, stop_after="codegen", verify_limit=4, log=lambda _: None)
    wall = time.perf_counter() - t0
    to_codegen = sum(v for k, v in summary["step_seconds"].items())
    return {"name": name, "rate": rate, "pub_luts": luts, "pub_brams": brams, "fps": summary["fps"],
            "luts": summary["luts"], "brams": summary["brams"], "dsps": summary["dsps"], "fits": summary["fits"],
            "wall": wall, "to_codegen": to_codegen, "load": load, "note": note or "meets the published rate",
            "mismatches": summary["verify"]["label_mismatches"]}


def table(rows: list[dict], board: str) -> str:
    lines = [f"bnn2hw build, board {board}, 100 MHz, FINN analytical estimates (finn-plus 1.6.1), no Vivado.",
             "", "| model | published img/s | published LUT | published BRAM | bnn2hw est. img/s | LUT | BRAM18 | "
             "DSP | fits | wall s (to codegen / total) | load (1 min) | note |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {_fmt(r['rate'])} | {_fmt(r['pub_luts'])} | {_fmt(r['pub_brams'])} | "
                     f"{_fmt(r['fps'])} | {_fmt(r['luts'])} | {_fmt(r['brams'])} | {_fmt(r['dsps'])} | "
                     f"{'yes' if r['fits'] else 'no'} | {r['to_codegen']:.1f} / {r['wall']:.1f} | {r['load']:.2f} | "
                     f"{r['note']} |")
    lines += ["", SOURCE + ".", "Published BRAM counts are BRAM36 blocks as reported by BNN-PYNQ; bnn2hw counts "
              "BRAM18 halves as FINN does. Wall time on the development machine "
              f"({os.cpu_count()} cores shared with other jobs; 'load' is the 1-minute load average before the "
              "build); 'to codegen' sums the FINN steps up to and including PrepareIP code generation "
              "(weight packing vectorised by bnn2hw.hw.fast_packing); 'total' is the whole build call: reports, "
              "the 4-image FINN-vs-QONNX check and, in the first row, importing FINN."]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tfc,lfc,cnv")
    parser.add_argument("--board", default="pynq-z1")
    parser.add_argument("--no-write", action="store_true", help="print the table only, leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_build_") as tmp:
        rows = [bench_one(name, args.board, Path(tmp)) for name in args.models.split(",")]
    text = table(rows, args.board)
    print(text)
    if not args.no_write:
        write_section("bench_build", "Build (scripts/bench_build.py)", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
