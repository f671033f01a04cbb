"""Benchmark of bnn2hw.sim against the other ways to execute the same network; writes BENCHMARKS.md.

Contract: ``python scripts/bench_sim.py [--out DIR] [--quick]`` builds random-weight TFC, SFC, LFC
(28×28, Fashion-MNIST test images when the Debian package is installed, else seeded random
images) and CNV (3×32×32, seeded random images) for pynq-z2 at the highest rate that fits
(``bnn2hw build`` up to the estimates), then measures images/s of: bnn2hw.sim (whole test set;
CNV a subset); FINN's Python execution (``finn.core.onnx_exec.execute_onnx``) of the HW-layer
graph ``hw/hw_layers.onnx`` (the specialised ``dataflow.onnx`` only runs under cppsim/rtlsim,
which need Vitis) on a few images, one at a time (1 / the median time per image); onnxruntime on
``model.onnx`` (it cannot load qonnx's MultiThreshold, so qonnx ``execute_onnx``, batched, is
timed instead and labelled so); the torch float model. It checks that the simulator agrees with model.onnx (0 mismatches) and reports its
speed against this CPU's popcount bound (binary MACs per image / 64 per popcount / clock).
Prints a Markdown table and replaces the section between ``<!-- bench_sim:start -->`` and
``<!-- bench_sim:end -->`` in BENCHMARKS.md (appended when absent).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

import numpy as np
from benchmarks_md import write_section

MODELS = {  # name: (input bits, input shape, sim images, FINN images, qonnx images, build fps)
    "tfc": (1, (1, 28, 28), 10_000, 40, 1000, None),
    "sfc": (8, (1, 28, 28), 10_000, 20, 1000, None),
    "lfc": (1, (1, 28, 28), 10_000, 8, 1000, None),
    "cnv": (8, (3, 32, 32), 500, 3, 40, None),
}


def images_for(shape, count: int) -> tuple[np.ndarray, str]:
    if shape == (1, 28, 28):
        try:
            from bnn2hw.data import load_dataset
            return load_dataset("fashion-mnist").x_test[:count], "Fashion-MNIST test"
        except Exception:
            pass
    return np.random.default_rng(0).integers(0, 256, (count, *shape), dtype=np.uint8), "random uint8"


def cpu_clock_hz() -> float:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    mhz = [float(v) for v in re.findall(r"cpu MHz\s*:\s*([\d.]+)", text)]
    return (max(mhz) if mhz else 2000.0) * 1e6


def make_build(out: Path, name: str, bits: int, shape, fps) -> Path:
    from bnn2hw.hw import build
    from bnn2hw.hw.random_net import random_model_onnx
    root = out / name
    if not (root / "hw" / "dataflow.onnx").is_file():
        root.mkdir(parents=True, exist_ok=True)
        random_model_onnx(root / "model.onnx", name, bits, shape, 10, seed=7)
        build(root, board="pynq-z2", fps=fps, verify_limit=2, stop_after="estimates", log=lambda _: None)
    return root


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def time_sim(root: Path, images: np.ndarray) -> dict:
    from bnn2hw.sim.accelerator import Accelerator
    from bnn2hw.sim.api import run_accelerator
    from bnn2hw.sim.compare import compare, reference_outputs
    accelerator = Accelerator.load(root / "hw")
    labels, scores, seconds = run_accelerator(accelerator, images)
    check = compare(labels[:, 0], scores, *reference_outputs(root / "model.onnx", images))
    flagged = sum(k.stats.flagged for k in accelerator.kernels)
    return {"sim_ips": rate(len(images), seconds), "sim_seconds": seconds, "mismatches": check["mismatches"],
            "overflows": flagged, "macs": accelerator.binary_macs(), "cycles_max": max(accelerator.cycles().values())}


def time_finn(root: Path, images: np.ndarray) -> float:
    from qonnx.core.modelwrapper import ModelWrapper

    from bnn2hw.hw.finn_env import import_finn
    import_finn()
    from finn.core.onnx_exec import execute_onnx
    model = ModelWrapper(str(root / "hw" / "hw_layers.onnx"))
    name = model.graph.input[0].name
    shape = tuple(model.get_tensor_shape(name))
    seconds = []
    for image in images:
        t0 = time.perf_counter()
        execute_onnx(model, {name: image.astype(np.float32).reshape(shape)})
        seconds.append(time.perf_counter() - t0)
    return rate(1, float(np.median(seconds)))


def time_onnx_reference(root: Path, images: np.ndarray) -> tuple[float, str]:
    try:
        import onnxruntime as ort
        ort.InferenceSession(str(root / "model.onnx"))
    except Exception as err:  # qonnx custom ops are not ONNX Runtime ops
        reason = "no MultiThreshold kernel" if "MultiThreshold" in str(err) else str(err).splitlines()[0][:60]
        from qonnx.core.modelwrapper import ModelWrapper

        from bnn2hw.compile.verify import run_qonnx
        model = ModelWrapper(str(root / "model.onnx"))
        t0 = time.perf_counter()
        run_qonnx(model, images)
        return rate(len(images), time.perf_counter() - t0), f"qonnx execute_onnx, batched (onnxruntime refuses model.onnx: {reason})"
    raise SystemExit("onnxruntime unexpectedly loaded model.onnx; time it here")


def time_torch(name: str, bits: int, shape, images: np.ndarray) -> float:
    import torch

    from bnn2hw.models import ModelConfig, build_model
    torch.manual_seed(0)
    model = build_model(ModelConfig(name, bits, tuple(shape), 10)).eval()
    x = torch.from_numpy(images)
    with torch.no_grad():
        model(x[:8])
        t0 = time.perf_counter()
        for start in range(0, len(x), 1000):
            model(x[start:start + 1000])
    return rate(len(x), time.perf_counter() - t0)


def bench_model(out: Path, name: str, quick: bool) -> dict:
    bits, shape, n_sim, n_finn, n_qonnx, fps = MODELS[name]
    if quick:
        n_sim, n_qonnx = min(n_sim, 500), min(n_qonnx, 100)
    t0 = time.perf_counter()
    root = make_build(out, name, bits, shape, fps)
    images, source = images_for(shape, n_sim)
    row = {"model": name, "images": len(images), "source": source, "build_s": time.perf_counter() - t0}
    row.update(time_sim(root, images))
    row["load"] = os.getloadavg()[0]  # 1-minute load average right after the simulator's run
    row["finn_ips"], row["finn_images"] = time_finn(root, images[:n_finn]), n_finn
    row["ref_ips"], row["ref_label"] = time_onnx_reference(root, images[:n_qonnx])
    row["torch_ips"] = time_torch(name, bits, shape, images)
    row["bound_ips"] = cpu_clock_hz() * 64 / row["macs"]
    print(json.dumps(row), flush=True)
    return row


def table(rows: list[dict]) -> str:
    lines = [f"## Simulator (bnn2hw.sim)\n",
             f"Random-weight builds for pynq-z2 (highest rate that fits), `python scripts/bench_sim.py`; "
             f"{os.cpu_count()} cores, {cpu_clock_hz() / 1e9:.2f} GHz, **shared with other engineers' jobs while "
             f"measured** (numbers are lower bounds). Images/s, single process (the simulator keeps BLAS on "
             f"one thread).\n",
             "| model | images | bnn2hw.sim img/s | sim s | load | mismatches | overflows | FINN execute_onnx img/s (n) | "
             "sim / FINN | model.onnx img/s | torch float img/s | popcount bound img/s | sim / bound |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['images']:,} ({r['source']}) | {r['sim_ips']:,.0f} | "
                     f"{r['sim_seconds']:.2f} | {r['load']:.1f} | {r['mismatches']} | {r['overflows']} | {r['finn_ips']:,.1f} ({r['finn_images']}) | "
                     f"{r['sim_ips'] / r['finn_ips']:,.0f}× | {r['ref_ips']:,.0f} | {r['torch_ips']:,.0f} | "
                     f"{r['bound_ips']:,.0f} | {r['sim_ips'] / r['bound_ips']:.2f} |")
    labels = sorted({r["ref_label"] for r in rows})
    lines += ["", "FINN execute_onnx: Python execution of `hw/hw_layers.onnx` (the specialised `dataflow.onnx` "
              "runs only under cppsim/rtlsim, which need Vitis), image by image: 1 / the median time of the n "
              "images. model.onnx: " + "; ".join(labels)
              + ". load: 1-minute load average of the machine right after the simulator's run. "
              "Popcount bound: binary MACs per image ÷ 64 per popcount instruction ÷ one core's clock "
              "(integer first layers of SFC/CNV not counted). overflows: values flagged by the simulator "
              "(FINN 1.6.1 sizes XNOR accumulators for Σx·w, x∈{0,1}, not for popcounts in [0, MW])."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/bnn2hw_bench_sim", help="where the builds go (reused if present)")
    parser.add_argument("--models", default="tfc,sfc,lfc,cnv")
    parser.add_argument("--quick", action="store_true", help="fewer images")
    args = parser.parse_args()
    rows = [bench_model(Path(args.out), name, args.quick) for name in args.models.split(",")]
    text = table(rows)
    print(text)
    write_section("bench_sim", "Simulator (scripts/bench_sim.py)", text)


if __name__ == "__main__":
    main()
