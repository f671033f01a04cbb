"""``bnn2hw simulate`` (every verification rung) and ``bnn2hw synth``: their options, and what
they print.
"""

from __future__ import annotations

from pathlib import Path

from bnn2hw import pipeline
from bnn2hw.errors import CheckFailed


def add_simulate_parser(sub) -> None:
    p = sub.add_parser("simulate", help="bit-exact simulation of BUILD/hw on the test split (BUILD/sim.json)")
    p.add_argument("build_dir", type=Path)
    p.add_argument("--dataset", default=None, help="data set (default: the one the build was verified on)")
    p.add_argument("--limit", type=int, default=None, help="first N test images only")
    p.add_argument("--ensemble", type=int, default=None,
                   help="simulate K posterior samples (BUILD/samples/<k>); on a build compiled with "
                        "--posterior-bits, K passes of the on-chip sampler (BUILD/posterior.json)")
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
                        "(BUILD/rtlsim.json; with --ensemble K the samples' weights go in over AXI-lite, or, on a "
                        "build compiled with --posterior-bits, the RTL sampler runs K passes per image)")
    p.add_argument("--shell", action="store_true",
                   help="run the UART shell + stitched accelerator (--impl rtl builds) with a bit-level UART model "
                        "(BUILD/shellsim.json): labels and corrupted frames; with --ensemble K on a build compiled with "
                        "--posterior-bits, ensemble frames of K passes of the RTL sampler)")
    p.add_argument("--stall", type=float, default=0.0,
                   help="with --rtl / --rtl-layers: probability of a random valid/ready stall each cycle (default 0)")
    p.add_argument("--seed", type=int, default=0, help="with --rtl / --rtl-layers: seed of the stall pattern")


def simulate_command(args) -> None:
    if args.shell:
        r = pipeline.run_shellsim(args.build_dir, args.dataset, args.limit, args.data_dir, ensemble=args.ensemble)
        print_shellsim(args.build_dir, r)
        pipeline.check_shellsim(r)
        return
    if args.rtl:
        report = pipeline.run_rtlsim(args.build_dir, args.dataset, args.limit, args.stall, args.seed, args.ensemble,
                                     args.data_dir)
        print_rtlsim(args.build_dir, report)
        pipeline.check_rtlsim(report)
        return
    if args.cppsim:
        report = pipeline.run_cppsim(args.build_dir, args.dataset, args.limit, args.data_dir, args.hlslib)
        print_cppsim(args.build_dir, report)
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
    print_sim(report)
    pipeline.check_simulation(report)


def print_shellsim(build_dir: Path, r: dict) -> None:
    print(f"\nVerilator, UART shell + accelerator: {r['images']} images, {r['wrong_replies']} wrong replies; "
          f"{r['error_frames_detected']} of {r['error_frames']} corrupted frames answered with an error; "
          f"{r['cycles_per_image']:,.0f} cycles an image at {r['cycles_per_bit']} cycles a bit "
          f"(on the board at {r['baud']:,} baud and {r['clk_hz'] / 1e6:g} MHz: {r['board_images_per_s']:,.1f} img/s); "
          f"{build_dir}/shellsim.json")
    onchip = r.get("onchip_ensemble")
    if onchip:
        print(f"  on-chip ensemble through the shell: {onchip['samples']} passes per frame, "
              f"{onchip['mismatched_passes']} of {onchip['passes_compared']} passes differ from bnn2hw.sim; "
              f"accuracy {onchip.get('accuracy')}, nll {onchip.get('nll')} (mode {onchip.get('mode_nll')}), "
              f"ece {onchip.get('ece')}")


def print_sim(s: dict) -> None:
    print(f"\nsimulated {s['images']} images bit-exactly: accuracy {s['accuracy']:.4f}, {s['mismatches']} "
          f"mismatches with model.onnx, {s['overflows']} overflows, {s['images_per_s']:,.0f} img/s; "
          f"throughput bound {s['fps_bound']:,.0f} img/s at {s['clock_mhz']:g} MHz")
    onchip = s.get("onchip_ensemble")
    if onchip:
        print(f"  on-chip ensemble ({onchip['samples']} passes of the {onchip['bits']}-bit sampler, seed "
              f"{onchip['seed']}): accuracy {onchip['accuracy']:.4f}, NLL {onchip['nll']:.4f}, ECE "
              f"{onchip['ece']:.4f}; mode network: NLL {s['mode_nll']:.4f}, ECE {s['mode_ece']:.4f}; "
              f"{100 * onchip['flip_share']:.2f} % of the weights flipped per pass "
              f"(expected {100 * onchip['expected_flip_share']:.2f} %)")
    ens = s.get("ensemble")
    if ens:
        print(f"  {ens.get('members', ens.get('samples'))}-sample ensemble: accuracy {ens['accuracy']:.4f}, "
              f"NLL {ens['nll']:.4f}, ECE {ens['ece']:.4f}, entropy {ens['entropy']:.4f}; mode network: "
              f"NLL {s['mode_nll']:.4f}, ECE {s['mode_ece']:.4f}")
        share = ens.get("posterior_uncertain_share")
        print(f"  ensemble label differs from the mode network's on {100 * ens['disagreement']:.1f} % of images; "
              + ("posterior share of weights with q(w=+1) in [0.05, 0.95]: unknown (not in verify.json)"
                 if share is None else f"{100 * share:.2f} % of the weights have q(w=+1) in [0.05, 0.95]"))


def print_cppsim(build_dir: Path, r: dict) -> None:
    compiled = sum(n["compile_seconds"] for n in r["nodes"].values() if not n["cached"])
    print(f"\nFINN cppsim (g++), node by node: {len(r['nodes'])} HLS nodes on {r['images']} images: "
          f"{sum(n['mismatched_images'] for n in r['nodes'].values())} mismatched node outputs, "
          f"{r['label_mismatches']} label mismatches with bnn2hw.sim; compiled in {compiled:.0f} s "
          f"({sum(n['cached'] for n in r['nodes'].values())} nodes cached); {build_dir}/cppsim.json")


def print_rtlsim(build_dir: Path, r: dict) -> None:
    scores = "" if r.get("reference_score_mismatches") is None else \
        f" ({r['reference_score_mismatches']} integer score mismatches)"
    print(f"\nVerilator, stitched accelerator ({r.get('output', 'labels')} out): {r['images']} images (stall "
          f"{r['stall']:g}): {r['label_mismatches']} mismatches with bnn2hw.sim, {r['reference_label_mismatches']} "
          f"with model.onnx{scores}, accuracy {r['accuracy']}")
    print(f"  {r['cycles_per_frame']:g} cycles/frame measured (bottleneck {r['expected_cycles_per_frame']}), "
          f"latency {r['latency_cycles']} cycles, FIFO depths {r['fifo_depths']}, "
          f"{r['sim_images_per_s']:,.0f} simulated img/s; {build_dir}/rtlsim.json")
    onchip = r.get("onchip_ensemble")
    if onchip:
        print(f"  on-chip ensemble, RTL sampler: {onchip['samples']} passes per image, {onchip['mismatched_passes']} of "
              f"{onchip['passes_compared']} passes differ from bnn2hw.sim; accuracy {onchip.get('accuracy')}, "
              f"nll {onchip.get('nll')} (mode {onchip.get('mode_nll')}), ece {onchip.get('ece')}, "
              f"{onchip['cycles_per_image']:g} cycles/image")
    ens = r.get("ensemble", {})
    for sample in ens.get("samples", []):
        print(f"  posterior sample {sample['sample']} over AXI-lite: {sample['label_mismatches']} mismatches")
    if "probabilities_max_abs_difference" in ens:
        print(f"  {ens['members']}-sample ensemble's averaged probabilities (scale {ens['output_scale']:.4g}): max "
              f"|RTL - bnn2hw.sim| {ens['probabilities_max_abs_difference']:.3g}, "
              f"{ens['label_mismatches_with_sim_ensemble']} label mismatches, accuracy {ens.get('accuracy')}")


def add_synth_parser(sub) -> None:
    p = sub.add_parser("synth", help="Yosys synthesis of an --impl rtl build's accelerator (BUILD/hw/synth.json)")
    p.add_argument("build_dir", type=Path)
    p.add_argument("--check", type=int, default=50,
                   help="test images the synthesized netlist runs in Verilator against the simulator (0: none)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds synthesis may take (default 1800)")
    p.add_argument("--dataset", default=None)
    p.add_argument("--data-dir", type=str, default=None)


def synth_command(args) -> None:
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
