"""Command line: ``bnn2hw train / compile / build / simulate / deploy / flow`` (``python -m bnn2hw.cli``).

Contract: each subcommand parses its options, calls one ``bnn2hw.pipeline.run_*`` function
and prints where its artifacts are and the headline figures. Exit status (``EXIT_STATUS``):
0 success; 1 a check ran and failed (``CheckFailed``: compile or simulate mismatches,
overflows, a rate the board cannot reach, the packaged driver disagreeing with the simulator);
2 refused input, with a one-line message naming the file, option or value at fault and no
traceback; 130 interrupted (training says how to resume).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bnn2hw import pipeline
from bnn2hw.compile import CompileError
from bnn2hw.errors import EXIT_CHECK_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED, CheckFailed, OutputDirError
from bnn2hw.deploy import DeployError
from bnn2hw.eda import EdaError
from bnn2hw.hw import HwError
from bnn2hw.sim import SimError
from bnn2hw.data import DATASETS, DatasetError
from bnn2hw.train import CheckpointError, Method, TrainingDiverged
from bnn2hw.train.presets import DEFAULT_PRESET, PRESETS

# (flag, TrainConfig field, type, help); a flag left out keeps the config's default.
TRAIN_OPTIONS = [
    ("--model", "model", str, "tfc, sfc, lfc, cnv or mlp:W1,W2,... (default tfc)"),
    ("--dataset", "dataset", str, f"one of {', '.join(DATASETS)} (default digits)"),
    ("--method", "method", str, f"one of {', '.join(m.value for m in Method)} (default bayesbinn)"),
    ("--epochs", "epochs", int, "training epochs (default 20)"),
    ("--lr", "lr", float, "learning rate of the binary weights (default: the method's)"),
    ("--batch-size", "batch_size", int, "minibatch size (default 100)"),
    ("--seed", "seed", int, "random seed (default 0)"),
    ("--input-bits", "input_bits", int, "1: pixel >= 128 is +1; 8: raw integer pixels (default 1)"),
    ("--preset", "preset", str, f"BayesBiNN settings by name: {', '.join(PRESETS)} (default {DEFAULT_PRESET}); "
                                "the options below change one setting of it"),
    ("--temperature", "temperature", float, "BayesBiNN relaxation temperature (presets: 1e-10)"),
    ("--mc-samples", "mc_samples", int, "BayesBiNN Monte-Carlo samples per step (presets: 1)"),
    ("--momentum", "momentum", float, "BayesBiNN momentum on λ (presets: 0)"),
    ("--likelihood-scale", "likelihood_scale", float, "BayesBiNN: N of the likelihood times this (tempering)"),
    ("--scale-bound", "scale_bound", float, "BayesBiNN: cap of the natural-gradient scale (1-w²)/(τ(1-μ²))"),
    ("--test-samples", "test_samples", int, "K posterior samples in the test ensemble (default 10)"),
    ("--val-split", "val_split", float, "fraction of the training set held out (default 0.1)"),
    ("--data-dir", "data_dir", str, "directory with the data set's files"),
    ("--init", "init", str, "trained run to start from: lns fine-tunes it (needed); pbnet / pbnet-s "
                            "transfer its real weights (θ = W/std clipped to ±0.9); ste continues it"),
    ("--pbnet-loss", "pbnet_loss", str, "PBNet loss of the mean logits: ce (default) or bce (per class)"),
    ("--lns-noise-rate", "lns_noise_rate", float, "LNS flip rate ρ of the noisy binary labels (default 0.1)"),
    ("--lns-weight", "lns_weight", float, "LNS weight β of the noisy-supervision loss (default 0.1)"),
]


def _add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a binary network")
    for flag, _field, typ, text in TRAIN_OPTIONS:
        p.add_argument(flag, type=typ, default=None, help=text)
    p.add_argument("--out", type=Path, required=True, help="run directory (checkpoint.pt, metrics.json, curves.png)")
    p.add_argument("--resume", action="store_true", help="continue the run stored in --out")
    p.add_argument("--force", action="store_true", help="replace the run already in --out")
    p.add_argument("--continual", default=None, metavar="KIND:T",
                   help="continual learning on T tasks (permuted:5 or split:5), BayesBiNN against STE")
    p.add_argument("--continual-preset", choices=("binary", "authors"), default="binary",
                   help="binary (default): the hardware-ready network, τ 1e-2, BayesBiNN lr 1e-2, batchnorm "
                        "without affine parameters; authors: the official experiment (784-100-100-10 with ReLU "
                        "activations, not compilable; τ 1e-2, lr 1e-3, 100 epochs per task, 100-sample predictive)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _train(args) -> None:
    options = {field: getattr(args, flag[2:].replace("-", "_"))
               for flag, field, _t, _h in TRAIN_OPTIONS if getattr(args, flag[2:].replace("-", "_")) is not None}
    if args.continual:
        _print_continual(args.out, pipeline.run_continual(args.out, options, args.continual, force=args.force,
                                                          preset=args.continual_preset))
        return
    metrics = pipeline.run_train(args.out, options, resume=args.resume, progress=not args.no_progress,
                                 force=args.force)
    _print_metrics(args.out, metrics)


def _print_continual(out: Path, report: dict) -> None:
    print(f"\ncontinual learning, {report['scenario']} ({report['tasks']} tasks): {out}/continual.json")
    for method, r in report["methods"].items():
        pred = r["predictive"]
        print(f"  {method:10s} average accuracy {r['average_acc']:.4f}  forgetting {r['forgetting']:.4f}  "
              f"(predictive of {pred['samples']} samples: {pred['average_acc']:.4f}, {pred['forgetting']:.4f})"
              if pred["samples"] else
              f"  {method:10s} average accuracy {r['average_acc']:.4f}  forgetting {r['forgetting']:.4f}")
        for i, row in enumerate(r["acc_matrix"]):
            print(f"    after task {i}: " + " ".join(f"{a:.3f}" for a in row))


def _add_uncertainty_parser(sub) -> None:
    p = sub.add_parser("uncertainty", help="ensemble calibration, reliability diagram and OOD AUROC of a run")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--out", type=Path, default=None, help="where uncertainty.json and reliability.png go (default: the run)")
    p.add_argument("--ood", default="permuted", help="out-of-distribution images: permuted (the test images with "
                   "pixels shuffled) or digits (scaled to the run's image size)")
    p.add_argument("--samples", type=int, default=10, help="posterior samples in the ensemble")


def _uncertainty(args) -> None:
    report = pipeline.run_uncertainty(args.run_dir, args.out, args.ood, args.samples)
    out = args.out or args.run_dir
    print(f"\n{report['method']} run {report['run']}, out-of-distribution images: {report['ood']}")
    for name, r in report["readouts"].items():
        print(f"  {name:9s} acc {r['acc']:.4f}  nll {r['nll']:.4f}  ece {r['ece']:.4f}  "
              f"entropy {r['entropy']:.4f}  OOD AUROC {r['ood_auroc']:.4f}"
              + (f"  disagrees with mode on {100 * r['disagreement']:.1f} % of images" if "disagreement" in r else ""))
    posterior = report.get("posterior")
    if posterior:
        low, high = posterior["band"]
        print(f"  posterior: {100 * posterior['uncertain_share']:.2f} % of the weights have q(w=+1) in "
              f"[{low:g}, {high:g}]" + ("  (collapsed: its samples are the mode network)"
                                        if posterior["uncertain_share"] < 0.01 else ""))
    print(f"  {out}/uncertainty.json, {out}/reliability.png")


def _print_metrics(run_dir: Path, m: dict) -> None:
    print(f"\n{m['model']} on {m['dataset']} with {m['method']}: {m['epochs']} epochs, "
          f"{m['train_seconds']:.1f} s ({m['seconds_per_epoch']:.2f} s/epoch)")
    print(f"  mode network (goes to hardware): acc {m['test_acc']:.4f}  nll {m['test_nll']:.4f}  "
          f"ece {m['test_ece']:.4f}")
    ens = m.get("ensemble")
    if ens:
        print(f"  {ens['samples']}-sample ensemble:           acc {ens['acc']:.4f}  nll {ens['nll']:.4f}  "
              f"ece {ens['ece']:.4f}")
    print(f"  artifacts: {run_dir}/checkpoint.pt, metrics.json, curves.png")


def _add_compile_parser(sub) -> None:
    p = sub.add_parser("compile", help="trained run -> QONNX model.onnx with exact integer thresholds, verified")
    p.add_argument("run_dir", type=Path, help="training run directory (holds checkpoint.pt)")
    p.add_argument("--out", type=Path, required=True, help="build directory (model.onnx, verify.json)")
    p.add_argument("--sample", type=int, default=None,
                   help="compile posterior sample K (seeded) instead of the posterior mode")
    p.add_argument("--samples", type=int, default=0,
                   help="also compile posterior samples 0..K-1 into OUT/samples/<k>/ (ensembles)")
    p.add_argument("--data-dir", type=str, default=None, help="where the run's data set lives, if moved")
    p.add_argument("--force", action="store_true", help="replace the build already in --out (hw/, samples/ too)")


def _compile(args) -> None:
    summary = pipeline.run_compile(args.run_dir, args.out, args.sample, args.samples, args.data_dir,
                                   force=args.force)
    _print_verify(args.out, summary)
    for k, v in enumerate(summary["samples"]):
        print(f"  sample {k}: {v['label_mismatches']} label / {v['value_mismatches']} score mismatches, "
              f"accuracy {v['integer_accuracy']:.4f}")
    pipeline.check_compile(summary)


def _print_verify(build_dir: Path, v: dict) -> None:
    print(f"\ncompiled {v['model']} ({v['readout']}) -> {build_dir}/model.onnx in {v['compile_seconds']:.1f} s")
    print(f"  verified on {v['images']} {v['dataset']} test images against {v['reference']}: "
          f"{v['label_mismatches']} label and {v['value_mismatches']} score mismatches")
    print(f"  accuracy: integer network {v['integer_accuracy']:.4f}, torch float {v.get('torch_float_accuracy', float('nan')):.4f}")
    if "torch_integer_label_disagreements" in v:
        print(f"  torch float vs integer network: {v['torch_integer_label_disagreements']} of {v['images']} labels "
              f"differ (float rounding at threshold ties; the integer network is the reference)")
    print(f"  report: {build_dir}/verify.json")


def _add_build_parser(sub) -> None:
    p = sub.add_parser("build", help="model.onnx -> FINN dataflow accelerator for a board (BUILD/hw/)")
    p.add_argument("build_dir", type=Path, help="build directory holding model.onnx (made from --model if given)")
    p.add_argument("--model", type=str, default=None, metavar="FILE.onnx",
                   help="bring your own model: a w1a1 QONNX export (Brevitas export_qonnx, e.g. BNN-PYNQ "
                        "tfc/sfc/lfc/cnv_1w1a, with or without FINN's pre/post-processing) imported into "
                        "BUILD/model.onnx first")
    p.add_argument("--input-scale", type=str, default=None, metavar="S",
                   help="with --model and a float input: what the model expects per raw uint8 pixel, "
                        "e.g. 1/255 (trained on ToTensor images) or 1 (raw 0..255)")
    p.add_argument("--dataset", default=None,
                   help="with --model: data set whose test split checks the import and the build "
                        "(default: 64 seeded random images)")
    p.add_argument("--data-dir", type=str, default=None, help="with --dataset: where its files live")
    p.add_argument("--force", action="store_true", help="with --model: replace a compiled model.onnx in BUILD")
    p.add_argument("--board", default="pynq-z2", help="board name (boards/*.yaml), default pynq-z2")
    p.add_argument("--fps", type=float, default=None, help="target frames/s (default: the highest that fits)")
    p.add_argument("--clock-mhz", type=float, default=None, help="clock (default: the board's)")
    p.add_argument("--folding", type=str, default=None, help="FINN folding JSON to use instead of --fps")
    p.add_argument("--ignore-estimates", action="store_true",
                   help="fold for --fps even where FINN's resource estimates exceed the board (they run about "
                        "twice Yosys's synthesized LUTs); `bnn2hw synth` then says whether it fits")
    p.add_argument("--verify-limit", type=int, default=None,
                   help="test images for the FINN-vs-QONNX check (default: all)")
    p.add_argument("--runtime-weights", action="store_true",
                   help="MVAU weights writable at run time (posterior ensembles on the board)")
    p.add_argument("--baud", type=int, default=115200,
                   help="ECP5 boards: UART rate of the serial shell around the accelerator (default 115200)")
    p.add_argument("--impl", choices=("hls", "rtl"), default="hls",
                   help="layers as FINN's HLS (default) or as RTL (bnn2hw + finn-rtllib; BUILD/hw/rtl/, "
                        "checked with `simulate --rtl-layers`)")
    p.add_argument("--output", choices=("labels", "scores"), default="labels",
                   help="what the accelerator outputs: the class label (default) or the last layer's integer "
                        "scores, so a board ensemble averages probabilities (--impl hls)")


def _build(args) -> None:
    _print_build(pipeline.run_build(args.build_dir, args.board, args.fps, args.clock_mhz, args.folding,
                                    args.verify_limit, args.runtime_weights, impl=args.impl,
                                    baud=args.baud, model=args.model, input_scale=args.input_scale,
                                    dataset=args.dataset, data_dir=args.data_dir, force=args.force,
                                    ignore_estimates=args.ignore_estimates, output=args.output))


def _add_simulate_parser(sub) -> None:
    p = sub.add_parser("simulate", help="bit-exact simulation of BUILD/hw on the test split (BUILD/sim.json)")
    p.add_argument("build_dir", type=Path)
    p.add_argument("--dataset", default=None, help="data set (default: the one the build was verified on)")
    p.add_argument("--limit", type=int, default=None, help="first N test images only")
    p.add_argument("--ensemble", type=int, default=None, help="simulate K posterior samples (BUILD/samples/<k>)")
    p.add_argument("--data-dir", type=str, default=None)
    p.add_argument("--rtl-layers", action="store_true",
                   help="run every RTL node (--impl rtl builds) in Verilator against the simulator, word for word "
                        "(BUILD/rtl_layers.json)")
    p.add_argument("--cppsim", action="store_true",
                   help="compile every HLS node (--impl hls builds) with FINN's cppsim flow (g++, no Vitis) and "
                        "compare it and the labels with the simulator, image by image (BUILD/cppsim.json; needs "
                        "finn-hlslib)")
    p.add_argument("--hlslib", type=Path, default=None,
                   help="with --cppsim: the finn-hlslib checkout (default: the config file's [cppsim] hlslib, "
                        "then .deps/finn-hlslib)")
    p.add_argument("--rtl", action="store_true",
                   help="run the stitched RTL accelerator (--impl rtl builds) in Verilator on the test split "
                        "(BUILD/rtlsim.json; with --ensemble K the samples' weights go in over AXI-lite)")
    p.add_argument("--shell", action="store_true",
                   help="run the UART shell + stitched accelerator (--impl rtl builds) with a bit-level UART model "
                        "(BUILD/shellsim.json): labels and corrupted frames")
    p.add_argument("--stall", type=float, default=0.0,
                   help="with --rtl / --rtl-layers: probability of a random valid/ready stall each cycle (default 0)")
    p.add_argument("--seed", type=int, default=0, help="with --rtl / --rtl-layers: seed of the stall pattern")


def _simulate(args) -> None:
    if args.shell:
        r = pipeline.run_shellsim(args.build_dir, args.dataset, args.limit, args.data_dir)
        print(f"\nVerilator, UART shell + accelerator: {r['images']} images, {r['label_mismatches']} wrong replies; "
              f"{r['error_frames_detected']} of {r['error_frames']} corrupted frames answered with an error; "
              f"{r['cycles_per_image']:,.0f} cycles an image at {r['cycles_per_bit']} cycles a bit "
              f"(at 115200 baud: {r['board_images_per_s_115200']:,.1f} img/s); {args.build_dir}/shellsim.json")
        pipeline.check_shellsim(r)
        return
    if args.rtl:
        report = pipeline.run_rtlsim(args.build_dir, args.dataset, args.limit, args.stall, args.seed, args.ensemble,
                                     args.data_dir)
        _print_rtlsim(args.build_dir, report)
        pipeline.check_rtlsim(report)
        return
    if args.cppsim:
        report = pipeline.run_cppsim(args.build_dir, args.dataset, args.limit, args.data_dir, args.hlslib)
        _print_cppsim(args.build_dir, report)
        pipeline.check_cppsim(report)
        return
    if args.rtl_layers:
        report = pipeline.run_rtl_layers(args.build_dir, args.dataset, args.limit, args.stall, args.seed,
                                         args.data_dir)
        bad = {name: r for name, r in report["nodes"].items() if r["mismatched_images"]}
        print(f"\nVerilator, layer by layer: {len(report['nodes'])} RTL nodes on {report['images']} images "
              f"(stall {args.stall:g}): {'all agree with bnn2hw.sim' if not bad else 'MISMATCHES in ' + ', '.join(bad)}"
              f"; {args.build_dir}/rtl_layers.json")
        if bad:
            raise CheckFailed(f"{sum(r['mismatched_images'] for r in bad.values())} mismatched node outputs")
        return
    report = pipeline.run_simulate(args.build_dir, args.dataset, args.limit, args.ensemble, args.data_dir,
                                   log=lambda _: None)
    _print_sim(report)
    pipeline.check_simulation(report)


def _print_sim(s: dict) -> None:
    print(f"\nsimulated {s['images']} images bit-exactly: accuracy {s['accuracy']:.4f}, {s['mismatches']} "
          f"mismatches with model.onnx, {s['overflows']} overflows, {s['images_per_s']:,.0f} img/s; "
          f"throughput bound {s['fps_bound']:,.0f} img/s at {s['clock_mhz']:g} MHz")
    ens = s.get("ensemble")
    if ens:
        print(f"  {ens.get('members', ens.get('samples'))}-sample ensemble: accuracy {ens['accuracy']:.4f}, "
              f"NLL {ens['nll']:.4f}, ECE {ens['ece']:.4f}, entropy {ens['entropy']:.4f}; mode network: "
              f"NLL {s['mode_nll']:.4f}, ECE {s['mode_ece']:.4f}")
        share = ens.get("posterior_uncertain_share")
        print(f"  ensemble label differs from the mode network's on {100 * ens['disagreement']:.1f} % of images; "
              + ("posterior share of weights with q(w=+1) in [0.05, 0.95]: unknown (not in verify.json)"
                 if share is None else f"{100 * share:.2f} % of the weights have q(w=+1) in [0.05, 0.95]"))


def _print_cppsim(build_dir: Path, r: dict) -> None:
    compiled = sum(n["compile_seconds"] for n in r["nodes"].values() if not n["cached"])
    print(f"\nFINN cppsim (g++), node by node: {len(r['nodes'])} HLS nodes on {r['images']} images: "
          f"{sum(n['mismatched_images'] for n in r['nodes'].values())} mismatched node outputs, "
          f"{r['label_mismatches']} label mismatches with bnn2hw.sim; compiled in {compiled:.0f} s "
          f"({sum(n['cached'] for n in r['nodes'].values())} nodes cached); {build_dir}/cppsim.json")


def _print_rtlsim(build_dir: Path, r: dict) -> None:
    print(f"\nVerilator, stitched accelerator: {r['images']} images (stall {r['stall']:g}): "
          f"{r['label_mismatches']} mismatches with bnn2hw.sim, {r['reference_label_mismatches']} with model.onnx, "
          f"accuracy {r['accuracy']}")
    print(f"  {r['cycles_per_frame']:g} cycles/frame measured (bottleneck {r['expected_cycles_per_frame']}), "
          f"latency {r['latency_cycles']} cycles, FIFO depths {r['fifo_depths']}, "
          f"{r['sim_images_per_s']:,.0f} simulated img/s; {build_dir}/rtlsim.json")
    for sample in r.get("ensemble", {}).get("samples", []):
        print(f"  posterior sample {sample['sample']} over AXI-lite: {sample['label_mismatches']} mismatches")


def _add_synth_parser(sub) -> None:
    p = sub.add_parser("synth", help="Yosys synthesis of an --impl rtl build's accelerator (BUILD/hw/synth.json)")
    p.add_argument("build_dir", type=Path)
    p.add_argument("--check", type=int, default=50,
                   help="test images the synthesized netlist runs in Verilator against the simulator (0: none)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds synthesis may take (default 1800)")
    p.add_argument("--dataset", default=None)
    p.add_argument("--data-dir", type=str, default=None)


def _synth(args) -> None:
    s = pipeline.run_synth(args.build_dir, args.check, args.timeout, args.dataset, args.data_dir)
    check = s.get("netlist_check")
    print(f"\nsynthesized {args.build_dir}/hw/rtl (accelerator) for {s['part']} with {s['tool']} in "
          f"{s['seconds']:.1f} s: {s['luts_total']:,} LUT, {s['ffs']:,} FF, {s['brams']:g} BRAM18, {s['dsps']} DSP"
          f"{'' if s.get('fits') is None else ', fits' if s['fits'] else ', does NOT fit the board'}")
    if check and "skipped" in check:
        print(f"  netlist check not run: {check['skipped']}")
    elif check:
        print(f"  netlist in Verilator: {check['mismatched_images']} mismatches on {check['images']} images")
    print(f"  {args.build_dir}/hw/synth.json, report.md (synthesized beside FINN's estimates)")
    pipeline.check_synth(s)


def _add_deploy_parser(sub) -> None:
    p = sub.add_parser("deploy", help="BUILD -> a self-contained PYNQ package (driver.py, io_spec.json, ...)")
    p.add_argument("build_dir", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--ensemble", type=int, default=None, help="package K posterior weight samples")
    p.add_argument("--test-limit", type=int, default=None, help="bundle only N test images")
    p.add_argument("--data-dir", type=str, default=None)
    p.add_argument("--force", action="store_true", help="replace the package already in --out")


def _deploy(args) -> None:
    _print_deploy(args.out, pipeline.run_deploy(args.build_dir, args.out, args.ensemble, args.test_limit,
                                                args.data_dir, log=lambda _: None, force=args.force))


def _print_deploy(out: Path, d: dict) -> None:
    print(f"\npackaged {out}: driver.py, io_spec.json, README.md, test data"
          f"{', bitfile' if d.get('bitfile') else ' (no bitfile: built without Vivado)'}, "
          f"{d['weight_samples']} posterior weight samples")
    if str(d.get("bitfile") or "").endswith("accelerator.bit"):
        print(f"  on the board: openFPGALoader the bitfile (see {out}/README.md), then "
              f"python driver.py --validate --backend uart --port /dev/ttyUSB0")
    else:
        print(f"  run it: cd {out} && python driver.py --validate --backend sim   (on a board: --backend pynq)")


def _print_build(b: dict) -> None:
    v = b["verify"]
    print(f"\nbuilt {b['hw_dir']} for {b['board']} at {b['clock_mhz']:g} MHz (stage: {b['stage']}): "
          f"{b['fps']:,.0f} img/s estimated, latency {b['latency_cycles']} cycles, {b['luts']:,.0f} LUT, "
          f"{b['brams']:g} BRAM18, {b['dsps']:g} DSP, fits: {b['fits']}")
    print(f"  FINN HW layers vs model.onnx: {v['label_mismatches']} label mismatches on {v['images']} images")
    pnr = b.get("pnr")
    if pnr:
        used, avail = pnr["used"], pnr["available"]
        print(f"  ECP5 bitstream {pnr['bitfile']}: " + ", ".join(f"{k} {used[k]:,}/{avail[k]:,}" for k in used)
              + f"; Fmax {pnr['fmax_mhz']:.1f} MHz (clock {pnr['clock_mhz']:g} MHz); UART {pnr['baud']} baud")


def _flow(args) -> None:
    summary = pipeline.run_flow(args.out, progress=not args.no_progress, force=args.force)
    _print_metrics(Path(summary["run_dir"]), summary["train"])
    _print_verify(Path(summary["build_dir"]), summary["compile"])
    _print_build(summary["build"])
    _print_sim(summary["simulate"])
    if summary.get("rtlsim"):
        _print_rtlsim(Path(summary["build_dir"]), summary["rtlsim"])
    _print_deploy(Path(summary["deploy_dir"]), summary["deploy"])


EXIT_STATUS = """exit status:
  0    success
  1    a check ran and failed: compile or simulate mismatches with model.onnx, simulator overflows,
       a rate or folding the board cannot take, FINN's HW layers or the packaged driver disagreeing
  2    refused input: a bad option, file or directory (one line names it); nothing was overwritten
  130  interrupted (train: continue with --resume)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bnn2hw", description=__doc__.splitlines()[0], epilog=EXIT_STATUS,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train_parser(sub)
    _add_compile_parser(sub)
    _add_build_parser(sub)
    _add_simulate_parser(sub)
    _add_synth_parser(sub)
    _add_deploy_parser(sub)
    _add_uncertainty_parser(sub)
    flow = sub.add_parser("flow", help="the whole flow on the default data (what `make demo` runs)")
    flow.add_argument("--out", type=Path, default=Path("runs/demo"))
    flow.add_argument("--no-progress", action="store_true")
    flow.add_argument("--force", action="store_true", help="replace the run, build and package already in --out")
    for command in sub.choices.values():
        command.epilog, command.formatter_class = EXIT_STATUS, argparse.RawDescriptionHelpFormatter
    return parser


COMMANDS = {"synth": _synth, "train": _train, "compile": _compile, "build": _build, "simulate": _simulate, "deploy": _deploy,
            "uncertainty": _uncertainty, "flow": _flow}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except CheckFailed as err:
        print(f"bnn2hw {args.command}: check failed: {err}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    except (DatasetError, CheckpointError, CompileError, HwError, SimError, DeployError, OutputDirError,
            EdaError, TrainingDiverged, ValueError) as err:
        print(f"bnn2hw {args.command}: error: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as err:  # a file or directory the user named that the system refuses
        print(f"bnn2hw {args.command}: error: {err.filename or ''}: {err.strerror or err}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        if args.command == "train":
            print(f"\nbnn2hw train: interrupted; the checkpoint of the last finished epoch (if any) is in "
                  f"{args.out}; continue with --resume", file=sys.stderr)
        else:
            print(f"\nbnn2hw {args.command}: interrupted; earlier outputs were left as they were", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
