"""Benchmark of the cppsim rung (FINN's HLS layers under g++ vs bnn2hw.sim); writes its section of BENCHMARKS.md.

Contract: ``python scripts/bench_cppsim.py [--images N] [--out DIR] [--hlslib DIR]`` builds
random-weight TFC (1-bit input) and SFC (8-bit input) on 28×28 images with ``--impl hls``
(``bench_rtl_layers.mlp_build``), then runs ``bnn2hw.hw.cppsim.cppsim_layers`` on the first N
test images (Fashion-MNIST when the Debian package is installed, else seeded random images)
with an empty binary cache (cold: every HLS node compiled by g++) and once more on 10 images
(cached). Per node it reports the op type, images, mismatched images (must be 0), g++ compile
seconds cold and cached; per model the label mismatches and the cppsim rate (images/s, all HLS
nodes node by node plus the chained run). The finn-hlslib commit in use, FINN's pin, g++ and
the load average are printed beside the figures. Replaces the ``bench_cppsim`` section of
BENCHMARKS.md. Needs finn-hlslib (see ``bnn2hw.eda.cppsim_deps``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_rtl_layers import mlp_build
from benchmarks_md import write_section

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CACHED_IMAGES = 10


def measure(builds: dict, images: int, hlslib: Path | None) -> tuple[list[dict], list[dict], dict]:
    from bnn2hw.eda.cppsim_deps import find_deps
    from bnn2hw.hw.cppsim import cppsim_layers
    from bnn2hw.sim.accelerator import Accelerator
    nodes, models, deps = [], [], find_deps(hlslib)
    cache = Path(tempfile.mkdtemp(prefix="bnn2hw-bench-cppsim-"))
    try:
        for name, (root, data, source) in builds.items():
            accelerator = Accelerator.load(root / "hw")
            t0 = time.perf_counter()
            cold = cppsim_layers(root, accelerator.node_streams(data[:images]), deps, cache_dir=cache, log=print)
            cold_s = time.perf_counter() - t0
            compile_s = sum(r["compile_seconds"] for r in cold["nodes"].values())
            warm = cppsim_layers(root, accelerator.node_streams(data[:CACHED_IMAGES]), deps, cache_dir=cache,
                                 log=lambda _: None)
            for node, r in cold["nodes"].items():
                nodes.append({"model": name, "node": node, **r, "cached_s": warm["nodes"][node]["compile_seconds"],
                              "warm_mismatches": warm["nodes"][node]["mismatched_images"]})
            models.append({"model": name, "source": source, "images": cold["images"],
                           "label_mismatches": cold["label_mismatches"] + warm["label_mismatches"],
                           "compile_s": compile_s, "rate": cold["images"] / max(cold_s - compile_s, 1e-9)})
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return nodes, models, cold


def table(nodes: list[dict], models: list[dict]) -> str:
    lines = ["| model | node | images | mismatched images | g++ compile cold / cached (s) |",
             "|---|---|---:|---:|---:|"]
    for r in nodes:
        lines.append(f"| {r['model']} | {r['node']} ({r['op_type']}) | {r['images']:,} | "
                     f"{r['mismatched_images'] + r['warm_mismatches']} | "
                     f"{r['compile_seconds']:.1f} / {r['cached_s']:.2f} |")
    lines += ["", "| model | images | label mismatches | compile, all HLS nodes (s) "
                  "| cppsim img/s (node by node + chained) |", "|---|---:|---:|---:|---:|"]
    for m in models:
        lines.append(f"| {m['model']} ({m['source']}) | {m['images']:,} | {m['label_mismatches']} | "
                     f"{m['compile_s']:.0f} | {m['rate']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="bnn2hw-bench-cppsim-")))
    parser.add_argument("--hlslib", type=Path, default=None)
    parser.add_argument("--note", default="", help="a sentence about the setup, printed above the tables")
    args = parser.parse_args()
    from bnn2hw.eda.cppsim_deps import EdaError, find_deps, gxx_version
    try:
        find_deps(args.hlslib)
    except EdaError as err:  # `make bench` on a machine without finn-hlslib: the other benches still run
        print(f"bench_cppsim: skipped: {err}")
        return
    builds = {"tfc (1-bit in)": mlp_build(args.out, "tfc", 1, 200_000, impl="hls"),
              "sfc (8-bit in)": mlp_build(args.out, "sfc", 8, 100_000, impl="hls")}
    t0 = time.perf_counter()
    nodes, models, last = measure(builds, args.images, args.hlslib)
    load = os.getloadavg()
    text = (f"finn-hlslib {last['hlslib_commit']} (FINN pins {last['hlslib_pinned']}), "
            f"{gxx_version().splitlines()[0]}, FINN's cppsim flags (-O3); {time.perf_counter() - t0:.0f} s in all; "
            f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} ({os.cpu_count()} cores). {args.note}\n\n"
            + table(nodes, models))
    print(text)
    if any(r["mismatched_images"] + r["warm_mismatches"] for r in nodes) or any(m["label_mismatches"] for m in models):
        raise SystemExit("mismatches: FINN's HLS layers under cppsim disagree with bnn2hw.sim")
    write_section("bench_cppsim", "FINN's HLS layers under cppsim (`scripts/bench_cppsim.py`)", text)


if __name__ == "__main__":
    main()
