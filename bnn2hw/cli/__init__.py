"""Command line: ``bnn2hw train / compile / build / simulate / deploy / flow`` (``python -m bnn2hw.cli``).

Contract: each subcommand parses its options, calls one ``bnn2hw.pipeline.run_*`` function
and prints where its artifacts are and the headline figures. Exit status (``EXIT_STATUS``):
0 success; 1 a check ran and failed (``CheckFailed``: compile or simulate mismatches,
overflows, a rate the board cannot reach, the packaged driver disagreeing with the simulator);
2 refused input, with a one-line message naming the file, option or value at fault and no
traceback; 3 a tool that is missing or failed (``ToolFailed``); 130 interrupted (training says how to resume).

Layout: ``training`` (train, uncertainty), ``building`` (compile, build), ``checking`` (simulate,
synth), ``deploying`` (deploy, flow); this module builds the parser, dispatches and turns the
stages' errors into exit statuses.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bnn2hw.compile import CompileError
from bnn2hw.errors import (EXIT_CHECK_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED, EXIT_TOOL_FAILED, CheckFailed,
                           OutputDirError)
from bnn2hw.deploy import DeployError
from bnn2hw.eda import EdaError, ToolFailed
from bnn2hw.hw import HwError
from bnn2hw.sim import SimError
from bnn2hw.data import DatasetError
from bnn2hw.train import CheckpointError, TrainingDiverged
from bnn2hw.train.distributed import PeerFailed
from bnn2hw.cli.building import add_build_parser, add_compile_parser, build_command, compile_command
from bnn2hw.cli.checking import add_simulate_parser, add_synth_parser, simulate_command, synth_command
from bnn2hw.cli.deploying import add_deploy_parser, add_flow_parser, deploy_command, flow_command
from bnn2hw.cli.doctor import add_doctor_parser, doctor_command
from bnn2hw.cli.training import add_train_parser, add_uncertainty_parser, train_command, uncertainty_command


EXIT_STATUS = """exit status:
  0    success
  1    a check ran and failed: compile or simulate mismatches with model.onnx, simulator overflows,
       a rate or folding the board cannot take, FINN's HW layers or the packaged driver disagreeing;
       train: another rank of a data-parallel run died or stopped answering
  2    refused input: a bad option, file or directory (one line names it); nothing was overwritten
  3    a tool bnn2hw runs (Verilator, g++, Yosys, nextpnr) is missing or failed; the message names it
  130  interrupted (train: continue with --resume)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bnn2hw", description=__doc__.splitlines()[0], epilog=EXIT_STATUS,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    add_compile_parser(sub)
    add_build_parser(sub)
    add_simulate_parser(sub)
    add_synth_parser(sub)
    add_deploy_parser(sub)
    add_uncertainty_parser(sub)
    add_flow_parser(sub)
    add_doctor_parser(sub)
    for command in sub.choices.values():
        command.epilog, command.formatter_class = EXIT_STATUS, argparse.RawDescriptionHelpFormatter
    return parser


COMMANDS = {"synth": synth_command, "train": train_command, "compile": compile_command, "build": build_command, "simulate": simulate_command, "deploy": deploy_command,
            "uncertainty": uncertainty_command, "flow": flow_command, "doctor": doctor_command}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        status = COMMANDS[args.command](args)
    except PeerFailed as err:
        print(f"bnn2hw {args.command}: error: {err}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    except CheckFailed as err:
        print(f"bnn2hw {args.command}: check failed: {err}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    except ToolFailed as err:
        print(f"bnn2hw {args.command}: tool failed: {err}", file=sys.stderr)
        return EXIT_TOOL_FAILED
    except (DatasetError, CheckpointError, CompileError, HwError, SimError, DeployError, OutputDirError,
            EdaError, TrainingDiverged, ValueError) as err:
        print(f"bnn2hw {args.command}: error: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as err:  # a file or directory the user named that the system refuses
        print(f"bnn2hw {args.command}: error: {err.filename or ''}: {err.strerror or err}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        if args.command == "train" and os.environ.get("RANK", "0") != "0":
            pass  # rank 0 says it
        elif args.command == "train":
            print(f"\nbnn2hw train: interrupted; the checkpoint of the last finished epoch (if any) is in "
                  f"{args.out}; continue with --resume", file=sys.stderr)
        else:
            print(f"\nbnn2hw {args.command}: interrupted; earlier outputs were left as they were", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if status is None else status

