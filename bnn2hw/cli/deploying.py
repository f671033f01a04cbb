"""``bnn2hw deploy`` and ``bnn2hw flow``: their options, and what they print.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bnn2hw import pipeline
from bnn2hw.cli.building import print_build, print_verify
from bnn2hw.cli.checking import print_rtlsim, print_shellsim, print_sim
from bnn2hw.cli.training import print_metrics


def add_deploy_parser(sub) -> None:
    p = sub.add_parser("deploy", help="BUILD -> a self-contained PYNQ package (driver.py, io_spec.json, ...)")
    p.add_argument("build_dir", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--ensemble", type=int, default=None, help="package K posterior weight samples")
    p.add_argument("--test-limit", type=int, default=None, help="bundle only N test images")
    p.add_argument("--data-dir", type=str, default=None)
    p.add_argument("--force", action="store_true", help="replace the package already in --out")


def deploy_command(args) -> None:
    print_deploy(args.out, pipeline.run_deploy(args.build_dir, args.out, args.ensemble, args.test_limit,
                                                args.data_dir, log=lambda _: None, force=args.force))


def print_deploy(out: Path, d: dict) -> None:
    print(f"\npackaged {out}: driver.py, io_spec.json, README.md, test data"
          f"{', bitfile' if d.get('bitfile') else ' (no bitfile: built without Vivado)'}, "
          f"{d['weight_samples']} posterior weight samples")
    if str(d.get("bitfile") or "").endswith("accelerator.bit"):
        print(f"  on the board: openFPGALoader the bitfile (see {out}/README.md), then "
              f"python driver.py --validate --backend uart --port /dev/ttyUSB0")
    else:
        print(f"  run it: cd {out} && {sys.executable} driver.py --validate --backend sim   (the sim backend needs "
              f"bnn2hw's python; on a board: sudo python3 driver.py --validate)")


def add_flow_parser(sub) -> None:
    d = pipeline.FlowConfig()
    p = sub.add_parser("flow", help="train -> compile -> build -> simulate -> deploy in one command (what `make demo` "
                                    "runs, with its defaults)")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="OUT/run, OUT/build, OUT/deploy")
    p.add_argument("--model", default=d.model, help=f"as train's (default {d.model})")
    p.add_argument("--dataset", default=d.dataset, help=f"as train's (default {d.dataset})")
    p.add_argument("--method", default=d.method, help=f"as train's (default {d.method})")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"default {d.epochs}")
    p.add_argument("--board", default=d.board, help=f"as build's (default {d.board}; ulx3s-85f ends at a bitstream "
                                                      "and a UART package)")
    p.add_argument("--impl", choices=("hls", "rtl"), default=d.impl, help=f"as build's (default {d.impl})")
    p.add_argument("--fps", type=float, default=d.fps, help=f"as build's (default {d.fps:g}; 0: the highest that fits)")
    p.add_argument("--samples", type=int, default=None,
                   help=f"posterior samples compiled, built and ensembled (default {pipeline.flow.DEFAULT_SAMPLES} for "
                        "a method with a posterior on a PYNQ board, else 0)")
    p.add_argument("--data-dir", type=str, default=None, help="where the data set's files are")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--force", action="store_true", help="replace the run, build and package already in --out")


def flow_command(args) -> None:
    config = pipeline.FlowConfig(model=args.model, dataset=args.dataset, method=args.method, board=args.board,
                                 impl=args.impl, fps=args.fps or None, epochs=args.epochs, samples=args.samples,
                                 data_dir=args.data_dir)
    summary = pipeline.run_flow(args.out, config, progress=not args.no_progress, force=args.force)
    print_metrics(Path(summary["run_dir"]), summary["train"])
    print_verify(Path(summary["build_dir"]), summary["compile"])
    print_build(summary["build"])
    print_sim(summary["simulate"])
    if summary.get("rtlsim"):
        print_rtlsim(Path(summary["build_dir"]), summary["rtlsim"])
    if summary.get("shellsim"):
        print_shellsim(Path(summary["build_dir"]), summary["shellsim"])
    print_deploy(Path(summary["deploy_dir"]), summary["deploy"])
