"""Cost of the on-chip posterior sampler: area with and without it, and time per ensembled image
against the host rewriting the weights over AXI-lite; writes its section of BENCHMARKS.md.

Contract: ``python scripts/bench_onchip_cost.py [--out DIR] [--models tfc,sfc] [--pynq-models tfc,sfc]
[--ecp5-models tfc,sfc]
[--passes 1,4,10] [--axi-cycles-per-write 2] [--batch 1000] [--synth-timeout S] [--cached-only]
[--no-write]``
trains (or reuses, when ``DIR/<run>/checkpoint.pt`` exists) a short BayesBiNN run per model
(``RUNS``: TFC and SFC on Fashion-MNIST, 1 epoch: 28×28 inputs, as the rates of the other RTL
benchmarks assume; trained weights are not needed for area, but the posterior decides which weights
are deterministic), compiles it with and
without ``--posterior-bits 4`` and builds both with ``--impl rtl --output scores`` (the on-chip
and the AXI-lite ensembles both average scores on the host) at the same rate:

* pynq-z1 at 100 MHz, the rate ``scripts/bench_rtl.py`` uses (``MODELS``), synthesized by Yosys
  (``synth_xilinx``, out of context): LUT / FF / BRAM18;
* ulx3s-85f (``--ecp5-models``; pynq-z1: ``--pynq-models``) at the rate of ``scripts/bench_ecp5.py`` with ``--clock-mhz 100``,
  the stitched top in the board-level probe (``bnn2hw.eda.ecp5_probe``, its ports registered on
  the UART/LED pins; same wrapper with and without) placed and routed by nextpnr-ecp5: LUT4 / FF /
  DP16KD and Fmax (timing not required);
* the rewrite: the plain build again with ``--runtime-weights`` and the plain build's folding, up
  to the estimates; its 32-bit AXI-lite writes per sample are the words of its runtime-weight
  map (``bnn2hw.deploy.weights.runtime_layers`` on ``hw/dataflow.onnx``, what the driver writes).

Time per ensembled image at the pynq-z1 clock f, in a stream of N = ``--batch`` images, with II
the bottleneck cycles and L the latency (``hw/estimates.json``), W writes per sample and c cycles
per write: on chip (the replay stage sends each image K times) ``(L + (K·N − 1)·II) / (N·f)``;
rewrite (K times: write a sample, stream the N images) ``K·(W·c + L + (N − 1)·II) / (N·f)``, at
N = 1 and N = ``--batch``. c defaults to ``AXI_CYCLES_PER_WRITE`` (the fastest the RTL takes a
write, see there), so the rewrite's time is a lower bound: no PS-side or interconnect latency,
no driver flush pass. img/s = the build's estimated rate / K. Results are kept in
``DIR/results.json`` (a rerun skips finished rows; ``--cached-only`` measures nothing new and names
the rows it lacks); replaces the ``bench_onchip_cost`` section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import sys
import time
from pathlib import Path

from bench_ecp5 import MODELS as ECP5_MODELS
from bench_rtl import MODELS as RTL_MODELS
from benchmarks_md import write_section

RUNS = {"tfc": ("fashion-mnist", 1), "sfc": ("fashion-mnist", 1)}  # model: (dataset, BayesBiNN epochs)
BITS = 4
PYNQ, ECP5, ECP5_CLOCK_MHZ = "pynq-z1", "ulx3s-85f", 100.0
# bnn2hw_mvau.sv takes AW+W in the cycle both are valid with no BVALID pending and raises BVALID the
# next; the stitched top takes no new address while a BVALID waits (axi_busy); hw/tb/axis_tb.cpp's
# master (AW/W valid back to back, BREADY high) so writes one word every 2 cycles: the fastest possible.
AXI_CYCLES_PER_WRITE = 2


def trained_run(out: Path, model: str) -> Path:
    from bnn2hw.train import TrainConfig, train
    dataset, epochs = RUNS[model]
    run = out / f"{model}_{dataset}_bayesbinn_e{epochs}"
    if not (run / "checkpoint.pt").is_file():
        train(TrainConfig(model=model, dataset=dataset, method="bayesbinn", epochs=epochs), run, progress=False,
              log=lambda _: None)
    return run


def compiled(out: Path, run: Path, model: str, bits: int) -> Path:
    from bnn2hw.compile import compile_run
    src = out / f"{model}_b{bits}" / "compiled"
    if not (src / "model.onnx").is_file():
        compile_run(run, src, posterior_bits=bits)
    return src


def build_dir(src: Path, target: Path) -> Path:
    """A fresh build directory holding the compile's files (model.onnx, verify.json, posterior)."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(src, target, ignore=shutil.ignore_patterns("hw"))
    return target


def estimates(root: Path) -> dict:
    est = json.loads((root / "hw" / "estimates.json").read_text())
    return {"fps": est["fps"], "ii": est["max_cycles"], "latency": est["latency_cycles"], "clock_mhz": est["clock_mhz"]}


def pynq_cost(src: Path, root: Path, fps: float, synth_timeout: float) -> dict:
    from bnn2hw.eda.yosys import synthesize
    from bnn2hw.hw import build
    build(build_dir(src, root), board=PYNQ, fps=fps, impl="rtl", output="scores", verify_limit=20,
          ignore_estimates=True, log=lambda _: None)
    synth = synthesize(root, timeout_s=synth_timeout, log=lambda _: None)
    return {**estimates(root), "luts": synth["luts_total"], "ffs": synth["ffs"], "brams": synth["brams"],
            "synth_s": synth["seconds"], "folding": str(root / "hw" / "folding.json")}


def ecp5_cost(src: Path, root: Path, fps: float) -> dict:
    from bnn2hw.eda.ecp5 import place_and_route
    from bnn2hw.eda.ecp5_probe import PROBE_TOP
    from bnn2hw.hw import build
    build(build_dir(src, root), board=ECP5, fps=fps, clock_mhz=ECP5_CLOCK_MHZ, impl="rtl", output="scores",
          verify_limit=20, stop_after="codegen", log=lambda _: None)  # the RTL; the probe is placed below
    pnr = place_and_route(root / "hw" / "rtl", ECP5, PROBE_TOP, ECP5_CLOCK_MHZ, root / "hw" / "pnr",
                          require_timing=False, log=lambda _: None)
    return {**estimates(root), "luts": pnr["used"]["LUT4"], "ffs": pnr["used"]["FF"], "brams": pnr["used"]["DP16KD"],
            "fmax_mhz": pnr["fmax_mhz"], "pnr_s": pnr["seconds"], "tools": pnr["tools"]}


def axi_writes(root: Path) -> dict:
    """32-bit AXI-lite writes of one weight sample: the words of the build's runtime-weight map."""
    import onnx

    from bnn2hw.deploy.weights import runtime_layers
    layers = runtime_layers(onnx.load(str(root / "hw" / "dataflow.onnx")))
    return {"layers": {layer["name"]: layer["words"] for layer in layers}, "words": sum(layer["words"] for layer in layers)}


def rewrite_cost(src: Path, root: Path, folding: str) -> dict:
    from bnn2hw.hw import build
    build(build_dir(src, root), board=PYNQ, folding=folding, impl="rtl", output="scores", runtime_weights=True,
          verify_limit=20, ignore_estimates=True, stop_after="estimates", log=lambda _: None)
    return {**estimates(root), **axi_writes(root)}


def ensembled_image_us(est: dict, k: int, batch: int, writes: int | None = None, cycles_per_write: float = 0) -> float:
    """Microseconds per ensembled image in a stream of ``batch`` images: on chip (``writes`` None) or rewrite."""
    ii, latency, f = est["ii"], est["latency"], est["clock_mhz"]
    if writes is None:
        return (latency + (k * batch - 1) * ii) / (batch * f)
    return k * (writes * cycles_per_write + latency + (batch - 1) * ii) / (batch * f)


def _share(a: float, b: float) -> str:
    return f"+{b - a:,.0f}" + (f" (+{100 * (b - a) / a:.0f} %)" if a else "")


def area_table(results: dict, models: list[str]) -> str:
    lines = ["| model | board (tool) | sampler | LUT | FF | BRAM | Fmax (MHz) | rate (img/s) |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for model in models:
        for board, tool, units in ((PYNQ, "Yosys", "LUT / FF / BRAM18"), (ECP5, "nextpnr", "LUT4 / FF / DP16KD")):
            plain, sampled = results.get(f"{model} {board} b0"), results.get(f"{model} {board} b{BITS}")
            if not plain or not sampled:
                continue
            where = f"{board} ({tool}: {units})"
            for label, r in (("without", plain), (f"B = {BITS}", sampled)):
                fmax = f"{r['fmax_mhz']:.1f}" if "fmax_mhz" in r else "–"
                rate = f"{r['fps']:,.0f}"
                if r.get("fmax_mhz", r["clock_mhz"]) < r["clock_mhz"]:  # timing missed: the rate at Fmax too
                    rate += f" at {r['clock_mhz']:g} MHz (timing missed; {r['fps'] * r['fmax_mhz'] / r['clock_mhz']:,.0f} at Fmax)"
                lines.append(f"| {model} | {where} | {label} | {r['luts']:,} | {r['ffs']:,} | {r['brams']:g} | {fmax} | "
                             f"{rate} |")
            lines.append(f"| {model} | {where} | share (with − without) | {_share(plain['luts'], sampled['luts'])} | "
                         f"{_share(plain['ffs'], sampled['ffs'])} | {_share(plain['brams'], sampled['brams'])} | – | – |")
    return "\n".join(lines)


def time_table(results: dict, models: list[str], passes: list[int], cycles_per_write: float, batch: int) -> str:
    lines = [f"| model | K | img/s on chip (rate / K) | µs per ensembled image on chip | AXI-lite writes per sample | "
             f"µs per ensembled image, rewrite, N = 1 | rewrite, N = {batch:,} | rewrite / on chip (N = 1 / N = {batch:,}) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for model in models:
        sampled, rewrite = results.get(f"{model} {PYNQ} b{BITS}"), results.get(f"{model} {PYNQ} rewrite")
        if not sampled or not rewrite:
            continue
        for k in passes:
            chip = [ensembled_image_us(sampled, k, n) for n in (1, batch)]
            host = [ensembled_image_us(rewrite, k, n, rewrite["words"], cycles_per_write) for n in (1, batch)]
            lines.append(f"| {model} | {k} | {sampled['fps'] / k:,.0f} | {chip[0]:.2f} / {chip[1]:.2f} (N = 1 / "
                         f"{batch:,}) | {rewrite['words']:,} | {host[0]:.2f} | {host[1]:.2f} | "
                         f"{host[0] / chip[0]:.1f}× / {host[1] / chip[1]:.2f}× |")
    return "\n".join(lines)


def run_note(run: Path, posterior_dir: Path) -> str:
    from bnn2hw.posterior_memory import read_posterior
    metrics = json.loads((run / "metrics.json").read_text())
    flips = read_posterior(posterior_dir).flips
    det = sum(int((f == 0).sum()) for f in flips) / sum(f.size for f in flips)
    return (f"{metrics['model']} on {metrics['dataset']}, {metrics['method']} {metrics['epochs']} epoch(s), seed 0 "
            f"(test accuracy {metrics['test_acc']:.4f}; {100 * det:.1f} % of weights deterministic at B = {BITS})")


def measure(out: Path, models: list[str], pynq_models: list[str], ecp5_models: list[str], synth_timeout: float, log,
            cached_only: bool = False) -> tuple[dict, list, list]:
    """(results by row key, a note per run, keys left unmeasured: with ``cached_only`` no new row runs)."""
    results_file = out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    notes, missing = [], []
    for model in models:
        run = trained_run(out, model)
        src = {bits: compiled(out, run, model, bits) for bits in (0, BITS)}
        notes.append(run_note(run, src[BITS]))
        jobs = []
        if model in pynq_models:
            jobs += [(f"{model} {PYNQ} b{b}", lambda b=b: pynq_cost(src[b], out / f"{model}_b{b}" / PYNQ,
                                                                   RTL_MODELS[model][2], synth_timeout)) for b in (0, BITS)]
            jobs.append((f"{model} {PYNQ} rewrite", lambda: rewrite_cost(src[0], out / f"{model}_b0" / "rewrite",
                                                                         results[f"{model} {PYNQ} b0"]["folding"])))
        if model in ecp5_models:
            jobs += [(f"{model} {ECP5} b{b}", lambda b=b: ecp5_cost(src[b], out / f"{model}_b{b}" / ECP5,
                                                                   ECP5_MODELS[model][1])) for b in (0, BITS)]
        for key, job in jobs:
            if key in results:
                continue
            if cached_only:
                missing.append(key)
                continue
            t0 = time.perf_counter()
            results[key] = {**job(), "wall_s": round(time.perf_counter() - t0, 1), "load": os.getloadavg()[0]}
            results_file.write_text(json.dumps(results, indent=2))
            log(f"{key}: {json.dumps(results[key])}")
    return results, notes, missing


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_onchip_cost"))
    ap.add_argument("--models", default="tfc,sfc")
    ap.add_argument("--pynq-models", default="tfc,sfc", help="models synthesized for pynq-z1 (Yosys)")
    ap.add_argument("--ecp5-models", default="tfc,sfc", help="models placed and routed for ulx3s-85f")
    ap.add_argument("--passes", default="1,4,10")
    ap.add_argument("--axi-cycles-per-write", type=float, default=AXI_CYCLES_PER_WRITE)
    ap.add_argument("--batch", type=int, default=1000, help="images streamed per weight sample (rewrite)")
    ap.add_argument("--synth-timeout", type=float, default=3600)
    ap.add_argument("--cached-only", action="store_true",
                    help="measure nothing new: write the section from DIR/results.json, naming the rows it lacks")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    from bnn2hw.eda.yosys import yosys_version
    models = args.models.split(",")
    pynq_models = [m for m in args.pynq_models.split(",") if m in models]
    ecp5_models = [m for m in args.ecp5_models.split(",") if m in models]
    passes = [int(k) for k in args.passes.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results, notes, unmeasured = measure(args.out, models, pynq_models, ecp5_models, args.synth_timeout, print, args.cached_only)
    walls = "; ".join(f"{key} {r['wall_s']:.0f} s (load {r['load']:.1f})" for key, r in results.items()
                      if key.split()[0] in models)
    pnr_tools = ", ".join(f"{k} {v}" for k, v in next((r["tools"] for r in results.values() if "tools" in r), {}).items())
    missing = [f"{m} on {board}" for board, chosen in ((PYNQ, pynq_models), (ECP5, ecp5_models)) for m in models
               if m not in chosen]
    load = os.getloadavg()
    text = (f"Runs: {'; '.join(notes)}. Each compiled with and without `--posterior-bits {BITS}` and built with "
            f"`--impl rtl --output scores` at the same rate: {PYNQ} at 100 MHz at the rates of `bench_rtl.py` "
            f"({', '.join(f'{m} {RTL_MODELS[m][2]:,} img/s' for m in pynq_models)}), synthesized by Yosys "
            f"(`synth_xilinx -family xc7`, out of context; {yosys_version()}); {ECP5} at {ECP5_CLOCK_MHZ:g} MHz at "
            f"the rates of `bench_ecp5.py` ({', '.join(f'{m} {ECP5_MODELS[m][1]:,} img/s' for m in ecp5_models)}), "
            f"the stitched top inside the board-level probe placed and routed by nextpnr-ecp5 (tools: {pnr_tools})"
            + (f"; left out of this run (`--pynq-models` / `--ecp5-models`): {', '.join(missing)}" if missing else "")
            + ". "
            + (f"Not measured (`--cached-only`: {', '.join(unmeasured)}); a model without both builds of a board "
               f"has no rows for it. " if unmeasured else "") + "Rates are the builds' "
            f"estimates (clock / bottleneck cycles); the sampler keeps the MVAU's cycles per vector. The rewrite: the "
            f"same build with `--runtime-weights`, its AXI-lite words per sample counted from its runtime-weight map "
            f"(`hw/dataflow.onnx`), at {args.axi_cycles_per_write:g} cycles per 32-bit write (the fastest the RTL "
            f"accepts writes: one every 2 cycles, `bnn2hw_mvau.sv` and the top's one-write-at-a-time gate), no PS or "
            f"interconnect latency and no driver flush pass: a lower bound for the rewrite. Time per ensembled image "
            f"in a stream of N images: on chip (L + (K·N − 1)·II) / (N·f), rewrite K·(W·c + L + (N − 1)·II) / (N·f) "
            f"(II bottleneck cycles, L latency, W writes, c cycles per write). "
            f"`PYTHONPATH=. python scripts/bench_onchip_cost.py "
            f"{' '.join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))}`; "
            f"{time.strftime('%Y-%m-%d', time.gmtime())}; {platform.machine()}, {os.cpu_count()} cores; this run "
            f"{time.perf_counter() - t0:.0f} s; wall time per row (with its 1-minute load average): {walls}. "
            f"1-minute load average at the end {load[0]:.2f}.\n\n"
            + area_table(results, models) + f"\n\nEnsembles on {PYNQ} at 100 MHz (the B = {BITS} build's rate; the "
            f"rewrite's words from the `--runtime-weights` build, c = {args.axi_cycles_per_write:g}):\n\n"
            + time_table(results, models, passes, args.axi_cycles_per_write, args.batch) + "\n")
    print(text)
    if not args.no_write:
        write_section("bench_onchip_cost", "On-chip posterior sampler: cost and time per ensembled image "
                      "(`scripts/bench_onchip_cost.py`)", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
