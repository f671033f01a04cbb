"""``bnn2hw deploy`` and ``bnn2hw flow``: their options, and what they print.
"""

from __future__ import annotations

from pathlib import Path

from bnn2hw import pipeline
from bnn2hw.cli.building import print_build, print_verify
from bnn2hw.cli.checking import print_rtlsim, print_sim
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
        print(f"  run it: cd {out} && python driver.py --validate --backend sim   (on a board: --backend pynq)")


def flow_command(args) -> None:
    summary = pipeline.run_flow(args.out, progress=not args.no_progress, force=args.force)
    print_metrics(Path(summary["run_dir"]), summary["train"])
    print_verify(Path(summary["build_dir"]), summary["compile"])
    print_build(summary["build"])
    print_sim(summary["simulate"])
    if summary.get("rtlsim"):
        print_rtlsim(Path(summary["build_dir"]), summary["rtlsim"])
    print_deploy(Path(summary["deploy_dir"]), summary["deploy"])
