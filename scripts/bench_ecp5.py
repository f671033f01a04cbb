"""Benchmark of the open-tool bitstream flow on ECP5 boards, before and after; writes its section of BENCHMARKS.md.

Contract: ``python scripts/bench_ecp5.py --before REV [--out DIR] [--board ulx3s-85f]
[--models tfc,sfc] [--clock-mhz 125] [--images N]`` builds random-weight 28×28 models with
``--impl rtl`` for the board twice in one run: on revision ``REV`` (``bench_before``: its own
``bnn2hw`` and RTL, at the board oscillator's clock, folded for the rate in ``MODELS``), then on
this checkout with the same folding (``BUILD/hw/folding.json`` of the first build), a PLL clock
and the clock search from ``--clock-mhz`` down (``bnn2hw build --clock-search``). Each build goes
through the UART shell, synth_ecp5, nextpnr-ecp5 and ecppack; the stitched accelerator runs in
Verilator on ``--images`` of the Fashion-MNIST test split (seeded random images without it) for
its measured cycles per frame and its mismatches against bnn2hw.sim and model.onnx. Per model
and revision: LUT4 / FF / DP16KD after place and route, the clock the design runs at, achieved
Fmax, images/s at that clock and at Fmax (clock / measured cycles per frame), nextpnr's critical
path (start and end cells, delay, logic levels), and Fmax over ``PUBLISHED_MHZ``. The load
average is printed beside the figures. ``tfc-max`` (no rate: fully unfolded) can be added to
``--models``. Replaces the ``bench_ecp5`` section of BENCHMARKS.md.
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

MODELS = {"tfc": (1, 100_000), "sfc": (1, 50_000), "lfc": (1, 20_000), "tfc-max": (1, None)}  # (input bits, img/s)
PUBLISHED_MHZ = 132.0  # an open BNN on the ULX3S (ECP5-85F) in nextpnr: the anchor


def images(limit: int) -> tuple[np.ndarray, str]:
    try:
        from bnn2hw.data import load_dataset
        data = load_dataset("fashion-mnist").x_test[:limit]
        return data, f"first {len(data):,} images of the Fashion-MNIST test split"
    except Exception:
        return np.random.default_rng(0).integers(0, 256, (limit, 1, 28, 28), dtype=np.uint8), f"{limit:,} random images"


def measure(out: Path, name: str, board: str, clock_mhz: float, search: bool, folding: str | None,
            limit: int) -> dict:
    """One build and stitched simulation of ``name`` with the ``bnn2hw`` first on ``sys.path``."""
    from bnn2hw.eda.rtlsim import run_stitched
    from bnn2hw.hw import build
    from bnn2hw.hw.random_net import random_model_onnx
    bits, fps = MODELS[name]
    root = out / name
    root.mkdir(parents=True, exist_ok=True)
    random_model_onnx(root / "model.onnx", name.split("-")[0], bits, (1, 28, 28), 10, seed=7)
    (root / "verify.json").write_text(json.dumps({"dataset": "fashion-mnist"}))
    options = {"clock_search": True} if search else {}
    t0 = time.perf_counter()
    summary = build(root, board=board, fps=None if folding else fps, folding=folding, clock_mhz=clock_mhz,
                    verify_limit=50, impl="rtl", log=lambda _: None, **options)
    build_s = time.perf_counter() - t0
    data, source = images(limit)
    sim = run_stitched(root, data, log=lambda _: None)
    pnr = summary["pnr"]
    return {"model": name, "fps_target": fps, "pnr": pnr, "cycles": sim["cycles_per_frame"],
            "expected": sim["expected_cycles_per_frame"], "source": source,
            "mismatches": sim["label_mismatches"] + sim["reference_label_mismatches"], "images": sim["images"],
            "build_s": round(build_s, 1), "folding": str(root / "hw" / "folding.json"),
            "report": str(root / "hw" / "bitfile" / "pnr_report.json")}


def _path_text(path: dict | None) -> str:
    if not path:
        return "–"
    short = lambda cell: cell.removeprefix("shell.accel.dut.").removeprefix("shell.")  # noqa: E731
    return (f"{short(path['from'])} → {short(path['to'])} ({path['ns']:.1f} ns: {path['logic_levels']} logic "
            f"levels, {path['routing_ns']:.1f} ns routing)")


def table(rows: list[dict]) -> str:
    lines = ["| model | revision | clock (MHz) | LUT4 | FF | DP16KD | Fmax (MHz) | cycles/frame (measured / bottleneck) "
             "| img/s at the clock | img/s at Fmax | critical path (nextpnr) | Fmax / 132 MHz | mismatches |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        p = r["pnr"]
        clock = f"{p['clock_mhz']:g}" + (" (PLL)" if p.get("pll") else " (oscillator)")
        lines.append(f"| {r['model']} | {r['revision']} | {clock} | {p['used']['LUT4']:,} | {p['used']['FF']:,} | "
                     f"{p['used']['DP16KD']} | {p['fmax_mhz']:.1f} | {r['cycles']:g} / {r['expected']} | "
                     f"{p['clock_mhz'] * 1e6 / r['cycles']:,.0f} | {p['fmax_mhz'] * 1e6 / r['cycles']:,.0f} | "
                     f"{_path_text(r['critical_path'])} | {p['fmax_mhz'] / PUBLISHED_MHZ:.2f} | "
                     f"{r['mismatches']} of {r['images']:,} |")
    return "\n".join(lines)


def child(args) -> None:
    row = measure(args.out, args.measure, args.board, args.clock_mhz, args.search, args.folding, args.images)
    args.json.write_text(json.dumps(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="bnn2hw-bench-ecp5-")))
    parser.add_argument("--board", default="ulx3s-85f")
    parser.add_argument("--models", default="tfc,sfc")
    parser.add_argument("--before", default=None, help="revision measured first (e.g. the merge base with main)")
    parser.add_argument("--clock-mhz", type=float, default=125.0, help="where the clock search starts")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repo", type=Path, default=None, help="(set by bench_before) tree to import bnn2hw from")
    parser.add_argument("--measure", default=None, help="(child run) the model to measure")
    parser.add_argument("--search", action="store_true", help="(child run) with the clock search")
    parser.add_argument("--folding", default=None, help="(child run) FINN folding file")
    parser.add_argument("--json", type=Path, default=None, help="(child run) where the row goes")
    args = parser.parse_args()
    if args.measure:
        return child(args)
    if args.before is None:
        parser.error("--before REV is required: the revision the after columns are compared with")
    from bnn2hw.eda.ecp5_report import critical_path
    from bnn2hw.boards import load_board
    tree, sha = revision_tree(args.before, args.out)
    rows = []
    for name in args.models.split(","):
        before = run_in(tree, Path(__file__).resolve(), ["--measure", name, "--out", str(args.out / "before"),
                                                         "--board", args.board, "--images", str(args.images),
                                                         "--clock-mhz", f"{load_board(args.board).clock_mhz:g}"])
        after = measure(args.out / "after", name, args.board, args.clock_mhz, True, before["folding"], args.images)
        for row, revision in ((before, f"before ({sha})"), (after, "after")):
            row["revision"] = revision
            row["critical_path"] = critical_path(json.loads(Path(row["report"]).read_text()))
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "pnr"} | {"fmax": row["pnr"]["fmax_mhz"]}),
                  flush=True)
    load = os.getloadavg()
    rates = ", ".join(f"{n} {MODELS[n][1]:,} img/s" if MODELS[n][1] else f"{n} fully unfolded"
                      for n in args.models.split(","))
    search = rows[-1]["pnr"].get("clock_search", {}).get("method", "")
    text = (f"{args.board}, random-weight 28×28 models built with `--impl rtl`, folded for {rates} at the board's "
            f"25 MHz oscillator (the before build's folding, reused by the after build). Before: revision {sha} at "
            f"the oscillator clock. After: this revision, the clock from an ECP5 PLL (ecppll), searched from "
            f"{args.clock_mhz:g} MHz ({search}). Cycles per frame measured by the stitched RTL in Verilator on the "
            f"{rows[0]['source']}. Fmax / 132 MHz: against an open BNN on the same board in nextpnr. Tools: "
            f"{rows[-1]['pnr']['tools']}. Load average {load[0]:.2f} / {load[1]:.2f} ({os.cpu_count()} cores).\n\n"
            + table(rows))
    print(text)
    if any(r["mismatches"] for r in rows):
        raise SystemExit("mismatches: the RTL disagrees with bnn2hw.sim / model.onnx")
    from benchmarks_md import write_section
    write_section("bench_ecp5", "ECP5 bitstreams with open tools (`scripts/bench_ecp5.py`)", text)


if __name__ == "__main__":
    use_repo(sys.argv)
    main()
