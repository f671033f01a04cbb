"""Benchmark of the Verilator rung, layer by layer; writes its section of BENCHMARKS.md.

Contract: ``python scripts/bench_rtl_layers.py [--out DIR]`` builds random-weight TFC (1-bit
input) and SFC (8-bit input) on 28×28 images and a random CNN (padding, sliding windows,
max-pooling; ``tests.netgen``) with ``--impl rtl``, then runs ``bnn2hw.eda.rtl_layers`` twice:
once with an empty Verilator cache (cold builds) and once again (cached), without stalls. The
images are the Fashion-MNIST test split (10,000) when the Debian package is installed, else
seeded random images; the CNN takes 500 seeded random images. Per layer type it reports
Verilator build seconds (cold, cached), simulated images/s (the Verilator simulation alone),
measured vs expected cycles/frame, and mismatches (must be 0). The load average is printed
beside the figures. Replaces the ``bench_rtl_layers`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from benchmarks_md import write_section

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def mlp_build(out: Path, name: str, bits: int, fps: float, impl: str = "rtl") -> tuple[Path, np.ndarray, str]:
    """A random-weight MLP on 28×28 images built with ``impl`` to code generation, and its test images."""
    from bnn2hw.hw import build
    from bnn2hw.hw.random_net import random_model_onnx
    root = out / name
    root.mkdir(parents=True, exist_ok=True)
    random_model_onnx(root / "model.onnx", name, bits, (1, 28, 28), 10, seed=7)
    try:
        from bnn2hw.data import load_dataset
        images, source = load_dataset("fashion-mnist").x_test, "Fashion-MNIST test split"
    except Exception:
        images, source = np.random.default_rng(0).integers(0, 256, (2000, 1, 28, 28), dtype=np.uint8), "random"
    (root / "verify.json").write_text(json.dumps({"dataset": "fashion-mnist"}))
    build(root, board="pynq-z2", fps=fps, verify_limit=20, impl=impl, log=lambda _: None)
    return root, images, source


def cnn_build(out: Path) -> tuple[Path, np.ndarray, str]:
    from bnn2hw.compile import integer_network, to_qonnx
    from bnn2hw.compile.qonnx_export import save
    from bnn2hw.hw import build
    from tests.netgen import random_cnn, random_images
    root = out / "cnn"
    root.mkdir(parents=True, exist_ok=True)
    model, weights = random_cnn(np.random.default_rng(45), 8, (2, 6, 6), 8, classes=10)
    save(to_qonnx(integer_network(model, weights)), root / "model.onnx")
    (root / "verify.json").write_text(json.dumps({"dataset": "digits"}))
    build(root, board="pynq-z2", fps=50_000, verify_limit=4, impl="rtl", log=lambda _: None)
    return root, random_images(np.random.default_rng(46), 500, (2, 6, 6)), "500 random images"


def measure(builds: dict) -> list[dict]:
    from bnn2hw.eda.rtl_layers import rtl_layers
    rows = []
    cache = Path(tempfile.mkdtemp(prefix="bnn2hw-bench-verilator-"))
    try:
        for name, (root, images, source) in builds.items():
            cold = rtl_layers(root, images, log=lambda _: None, cache_dir=cache)
            warm = rtl_layers(root, images, log=lambda _: None, cache_dir=cache)
            for node, r in warm["nodes"].items():
                rows.append({"model": name, "node": node, "op_type": r["op_type"], "images": r["images"],
                             "source": source, "cold_s": cold["nodes"][node]["build_seconds"],
                             "cached_s": r["build_seconds"], "sim_s": r["sim_seconds"],
                             "cycles": r["cycles_per_frame"], "expected": r["expected_cycles"],
                             "mismatches": r["mismatched_images"] + cold["nodes"][node]["mismatched_images"]})
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| model | node | images | Verilator build cold / cached (s) | simulated img/s | cycles/frame measured / expected | mismatches |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        rate = r["images"] / r["sim_s"] if r["sim_s"] > 0 else float("inf")
        lines.append(f"| {r['model']} | {r['node']} | {r['images']:,} | {r['cold_s']:.1f} / {r['cached_s']:.2f} | "
                     f"{rate:,.0f} | {r['cycles']:g} / {r['expected']} | {r['mismatches']} |")
    by_type = defaultdict(list)
    for r in rows:
        by_type[r["op_type"]].append(r)
    lines += ["", "| layer type | nodes | mean cold build (s) | mean cached (s) |", "|---|---:|---:|---:|"]
    for op, rs in sorted(by_type.items()):
        lines.append(f"| {op} | {len(rs)} | {np.mean([r['cold_s'] for r in rs]):.1f} | "
                     f"{np.mean([r['cached_s'] for r in rs]):.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="bnn2hw-bench-rtl-")))
    args = parser.parse_args()
    builds = {"tfc (1-bit in)": mlp_build(args.out, "tfc", 1, 200_000),
              "sfc (8-bit in)": mlp_build(args.out, "sfc", 8, 100_000),
              "cnn (pad, pool)": cnn_build(args.out)}
    t0 = time.perf_counter()
    rows = measure(builds)
    load = os.getloadavg()
    text = (f"Verilator {__import__('bnn2hw.eda.verilator', fromlist=['x']).verilator_version()}, no stalls, "
            f"{time.perf_counter() - t0:.0f} s in all; load average {load[0]:.2f} / {load[1]:.2f} "
            f"({os.cpu_count()} cores). Images: {', '.join(f'{k}: {v[2]}' for k, v in builds.items())}.\n\n"
            + table(rows))
    print(text)
    if any(r["mismatches"] for r in rows):
        raise SystemExit("mismatches: the RTL disagrees with bnn2hw.sim")
    write_section("bench_rtl_layers", "RTL layers in Verilator (`scripts/bench_rtl_layers.py`)", text)


if __name__ == "__main__":
    main()
