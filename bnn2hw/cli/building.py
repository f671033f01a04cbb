"""``bnn2hw compile`` and ``bnn2hw build``: their options, and what they print.
"""

from __future__ import annotations

from pathlib import Path

from bnn2hw import pipeline
from bnn2hw.hw import BuildConfig


def add_compile_parser(sub) -> None:
    p = sub.add_parser("compile", help="trained run -> QONNX model.onnx with exact integer thresholds, verified")
    p.add_argument("run_dir", type=Path, help="training run directory (holds checkpoint.pt)")
    p.add_argument("--out", type=Path, required=True, help="build directory (model.onnx, verify.json)")
    p.add_argument("--sample", type=int, default=None,
                   help="compile posterior sample K (seeded) instead of the posterior mode")
    p.add_argument("--samples", type=int, default=0,
                   help="also compile posterior samples 0..K-1 into OUT/samples/<k>/ (ensembles)")
    p.add_argument("--posterior-bits", type=int, default=0, metavar="B",
                   help="also export the posterior for the on-chip sampler: each weight's flip probability "
                        "relative to the mode quantized to B bits (OUT/posterior.json, posterior.npz; default 0: "
                        "no sampler; methods with a posterior only)")
    p.add_argument("--data-dir", type=str, default=None, help="where the run's data set lives, if moved")
    p.add_argument("--force", action="store_true", help="replace the build already in --out (hw/, samples/ too)")


def compile_command(args) -> None:
    summary = pipeline.run_compile(args.run_dir, args.out, args.sample, args.samples, args.data_dir,
                                   force=args.force, posterior_bits=args.posterior_bits)
    print_verify(args.out, summary)
    post = summary.get("posterior")
    if post:
        print(f"  posterior for the on-chip sampler: {post['bits']}-bit flip probabilities, "
              f"{100 * post['deterministic_share']:.1f} % of the weights deterministic, mean flip probability "
              f"{post['mean_flip_probability']:.4f}, seed {post['seed']}; {args.out}/posterior.json")
    for k, v in enumerate(summary["samples"]):
        print(f"  sample {k}: {v['label_mismatches']} label / {v['value_mismatches']} score mismatches, "
              f"accuracy {v['integer_accuracy']:.4f}")
    pipeline.check_compile(summary)


def print_verify(build_dir: Path, v: dict) -> None:
    print(f"\ncompiled {v['model']} ({v['readout']}) -> {build_dir}/model.onnx in {v['compile_seconds']:.1f} s")
    print(f"  verified on {v['images']} {v['dataset']} test images against {v['reference']}: "
          f"{v['label_mismatches']} label and {v['value_mismatches']} score mismatches")
    print(f"  accuracy: integer network {v['integer_accuracy']:.4f}, torch float {v.get('torch_float_accuracy', float('nan')):.4f}")
    if "torch_integer_label_disagreements" in v:
        print(f"  torch float vs integer network: {v['torch_integer_label_disagreements']} of {v['images']} labels "
              f"differ (float rounding at threshold ties; the integer network is the reference)")
    print(f"  report: {build_dir}/verify.json")


def add_build_parser(sub) -> None:
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
    p.add_argument("--force", action="store_true",
                   help="replace the accelerator already in BUILD/hw (and with --model a model.onnx compiled "
                        "or imported from another file)")
    p.add_argument("--board", default="pynq-z2", help="board name (boards/*.yaml), default pynq-z2")
    p.add_argument("--fps", type=float, default=None, help="target frames/s (default: the highest that fits)")
    p.add_argument("--clock-mhz", type=float, default=None,
                   help="the clock the design runs at (default: the board's; ECP5 boards make other clocks with "
                        "a PLL); timing missed at it fails the build")
    p.add_argument("--clock-search", action="store_true",
                   help="ECP5 boards: search for the highest clock meeting timing, from --clock-mhz down (step down "
                        "to the achieved Fmax on failure, up to 4 place-and-route runs); the clock chosen is "
                        "reported in estimates.json")
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
    p.add_argument("--output", choices=("labels", "scores"), default=None,
                   help="what the accelerator outputs: the class label (default) or the last layer's integer "
                        "scores, so a board ensemble averages probabilities (--impl hls or rtl; the default "
                        "for --impl rtl on a build compiled with --posterior-bits: the on-chip ensemble)")


def _default_output(args) -> str:
    """Scores for an RTL build with a posterior (its sampler's K passes are averaged on the host), else labels."""
    from bnn2hw.posterior_memory import has_posterior
    return "scores" if args.impl == "rtl" and has_posterior(Path(args.build_dir)) else "labels"


def build_command(args) -> None:
    config = BuildConfig(board=args.board, fps=args.fps, clock_mhz=args.clock_mhz, folding=args.folding,
                         verify_limit=args.verify_limit, runtime_weights=args.runtime_weights, impl=args.impl,
                         baud=args.baud, data_dir=args.data_dir, ignore_estimates=args.ignore_estimates,
                         output=args.output or _default_output(args), clock_search=args.clock_search)
    print_build(pipeline.run_build(args.build_dir, config, source=import_options(args), force=args.force))


def import_options(args) -> pipeline.ImportOptions | None:
    """``--model`` and the options that only mean something with it (refused without it)."""
    if args.model is None:
        if args.input_scale is not None or args.dataset is not None:
            raise ValueError("--input-scale and --dataset describe an imported model: give them with --model FILE.onnx")
        return None
    return pipeline.ImportOptions(args.model, args.input_scale, args.dataset, args.force)


def print_build(b: dict) -> None:
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
