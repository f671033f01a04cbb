"""Method benchmark: STE, BayesBiNN (default preset and the paper's), PBNet, PBNet-S (uniform
and transferred initialisation; transferred with the per-class BCE loss; STE continued for the
same epochs as their control), LNS and its plain fine-tuning control on SFC / Fashion-MNIST — accuracy, NLL, ECE (mode and ensemble), OOD AUROC (digits upscaled to 28×28,
predictive entropy), the share of weights with posterior probability in [0.05, 0.95], the
ensemble's disagreement with the mode network, seconds per epoch; mean ± sd over seeds — and
continual-learning matrices (permuted Fashion-MNIST) for BayesBiNN and STE, for each preset of
``--continual-presets`` (``binary``: the hardware-ready network; ``authors``: the official
experiment, ``--authors-epochs`` per task, 100 as published). Prints tables and
writes them into BENCHMARKS.md: key ``bench_methods`` for the full run, key ``bench_posterior``
when ``--methods`` picks a subset or ``--no-continual`` is given.

Usage: PYTHONPATH=. python scripts/bench_methods.py [--epochs 10] [--seeds 3] [--first-seed 0] [--jobs 1]
       [--methods ste,bayesbinn,...] [--lns-epochs 2] [--transfer-epochs 20] [--continual-epochs 2]
       [--authors-epochs 100]
       [--continual-presets binary,authors] [--tasks 5] [--samples 20] [--no-continual] [--out DIR]
       [--no-write]
A run whose ``bench_run.json`` is already in ``--out`` (same options assumed) is reused, and so is a
continual sequence whose ``continual.json`` has the same epochs per task and tasks, so the
methods can be measured in several calls and tabulated together by the last.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from benchmarks_md import write_section
from bnn2hw.train import TrainConfig, train
from bnn2hw.train.continual import CONTINUAL_METHODS, continual_config, method_lr, train_continual
from bnn2hw.train.uncertainty import uncertainty_report

QUIET = dict(progress=False, log=lambda _: None)


# name -> TrainConfig options; the runs of FROM_STE start from the same seed's ste run (so run after it;
# both pbnet-s-transfer rows get PBNet's rate for trained starts, 2e-2)
METHODS = {"ste": {"method": "ste"}, "bayesbinn": {"method": "bayesbinn"},
           "bayesbinn-paper": {"method": "bayesbinn", "preset": "paper"}, "pbnet": {"method": "pbnet"},
           "pbnet-s": {"method": "pbnet-s"}, "pbnet-s-transfer": {"method": "pbnet-s"},
           "pbnet-s-transfer-bce": {"method": "pbnet-s", "pbnet_loss": "bce"},
           "ste-continued": {"method": "ste"}, "lns": {"method": "lns"}, "ste-finetune": {"method": "ste"}}
# name -> the option giving its epochs: LNS and its control (plain STE fine-tuning) get the same extra
# epochs, and so do the transferred PBNet-S runs and theirs (STE continued from the same run)
FROM_STE = {"lns": "lns_epochs", "ste-finetune": "lns_epochs", "pbnet-s-transfer": "transfer_epochs",
            "pbnet-s-transfer-bce": "transfer_epochs", "ste-continued": "transfer_epochs"}
KEYS = ("acc", "nll", "ece", "ood_auroc")


def run_one(name: str, seed: int, args, out: Path) -> dict:
    """One (method, seed) run in its own process, on one thread."""
    torch.set_num_threads(1)
    base = dict(model=args.model, dataset=args.dataset, epochs=args.epochs, test_samples=0, seed=seed,
                device=args.device)
    options = {**base, **METHODS[name]}
    if name in FROM_STE:
        options.update(init=str(out / f"ste-{seed}"), epochs=getattr(args, FROM_STE[name]))
    run = out / f"{name}-{seed}"
    if (run / "bench_run.json").is_file():  # finished by an earlier call with the same --out
        print(f"reusing {run}", flush=True)
        return json.loads((run / "bench_run.json").read_text())
    metrics = train(TrainConfig(**options), run, **QUIET)
    report = uncertainty_report(run, run, ood="digits", samples=args.samples, device=args.device)
    row = {"method": name, "seed": seed, "epochs": metrics["epochs"], "s_per_epoch": metrics["seconds_per_epoch"],
           "load": os.getloadavg()[0], **{f"mode_{k}": v for k, v in report["readouts"]["mode"].items()}}
    row.update({f"ens_{k}": v for k, v in report["readouts"].get("ensemble", {}).items()})
    if "posterior" in report:
        row["uncertain_share"] = report["posterior"]["uncertain_share"]
    print(json.dumps(row), flush=True)
    (run / "bench_run.json").write_text(json.dumps(row) + "\n")
    return row


def seed_range(args) -> range:
    return range(args.first_seed, args.first_seed + args.seeds)


def run_methods(args, out: Path) -> list[dict]:
    """Every (method, seed) run, ``args.jobs`` at a time; FROM_STE runs after the ste runs they start from."""
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        rows = []
        for stage in ([n for n in args.methods if n not in FROM_STE], [n for n in args.methods if n in FROM_STE]):
            jobs = [pool.submit(run_one, n, seed, args, out) for n in stage for seed in seed_range(args)]
            rows += [job.result() for job in jobs]
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Per method: mean and sd over seeds of every number (``key`` and ``key_sd``)."""
    out = []
    for name in dict.fromkeys(r["method"] for r in rows):
        group = [r for r in rows if r["method"] == name]
        summary = {"method": name, "seeds": len(group), "epochs": group[0]["epochs"]}
        for key in group[0]:
            values = [r[key] for r in group if isinstance(r.get(key), (int, float)) and key not in ("seed", "epochs")]
            if len(values) == len(group) and values:
                summary[key] = statistics.fmean(values)
                summary[f"{key}_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        out.append(summary)
    return out


def _fmt(row: dict, key: str, digits: int = 4) -> str:
    if key not in row:
        return "–"
    return f"{row[key]:.{digits}f} ± {row[key + '_sd']:.{digits}f}" if row.get("seeds", 1) > 1 else f"{row[key]:.{digits}f}"


def methods_table(rows: list[dict]) -> str:
    head = ("| method | epochs | acc (mode) | NLL | ECE | OOD AUROC | acc (ensemble) | NLL | ECE | OOD AUROC "
            "| weights in [0.05, 0.95] | ens. ≠ mode | s/epoch | load |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = [f"| {r['method']} | {r['epochs']} | " + " | ".join(_fmt(r, f"mode_{k}") for k in KEYS) + " | "
             + " | ".join(_fmt(r, f"ens_{k}") for k in KEYS) + f" | {_fmt(r, 'uncertain_share', 3)} | "
             f"{_fmt(r, 'ens_disagreement', 3)} | {r['s_per_epoch']:.1f} | {r['load']:.1f} |" for r in rows]
    return head + "\n".join(lines) + "\n"


def continual_table(result: dict) -> str:
    out = []
    for method, r in result["methods"].items():
        tasks = len(r["acc_matrix"])
        pred = r["predictive"]
        predictive = (f"; predictive of {pred['samples']} samples: average accuracy {pred['average_acc']:.4f}, "
                      f"forgetting {pred['forgetting']:.4f}" if pred["samples"] else "")
        out.append(f"**{method}** (mode network): average accuracy {r['average_acc']:.4f}, forgetting "
                   f"{r['forgetting']:.4f}{predictive}, {r['train_seconds']:.0f} s training\n")
        out.append("| after task | " + " | ".join(f"task {j + 1}" for j in range(tasks)) + " |")
        out.append("|---|" + "---|" * tasks)
        out += [f"| {i + 1} | " + " | ".join(f"{a:.3f}" for a in row) + " |" for i, row in enumerate(r["acc_matrix"])]
        out.append("")
    return "\n".join(out)


def _finished_continual(run: Path, epochs: int, tasks: int) -> dict | None:
    """An earlier call's ``continual.json`` in ``run`` with the same epochs per task and tasks, else None."""
    path = run / "continual.json"
    if not path.is_file():
        return None
    result = json.loads(path.read_text())
    if result.get("epochs_per_task") != epochs or result.get("tasks") != tasks:
        return None
    print(f"reusing {path}", flush=True)
    return result


def continual_one(config, run: Path, scenario: str, method: str, preset: str) -> dict:
    """One method's sequence in its own process, on one thread; its progress lines go to stdout. An
    interrupted sequence (a killed earlier call with the same --out) continues from its last epoch."""
    torch.set_num_threads(1)
    return train_continual(config, run, scenario, methods=(method,), preset=preset, resume=True,
                           log=lambda line: print(f"[{preset} {method}] {line}", flush=True))


def continual_in_parallel(config, run: Path, args, preset: str) -> dict:
    """BayesBiNN's and STE's sequences (``args.jobs`` at a time), merged into ``run/continual.json``."""
    scenario = f"permuted:{args.tasks}"
    with ProcessPoolExecutor(max_workers=min(args.jobs, 2)) as pool:
        jobs = {m: pool.submit(continual_one, config, run / f"{m}-sequence", scenario, m, preset)
                for m in CONTINUAL_METHODS}
        parts = {m: job.result() for m, job in jobs.items()}
    result = {**parts[CONTINUAL_METHODS[0]], "methods": {m: part["methods"][m] for m, part in parts.items()}}
    (run / "continual.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def run_continual_preset(args, out: Path, preset: str) -> tuple[dict, str]:
    """One continual preset's sequence for BayesBiNN and STE, and its tables."""
    if preset == "binary":
        config = continual_config(preset, model=args.model, dataset=args.dataset, epochs=args.continual_epochs,
                                  device=args.device)
        what = (f"the hardware-ready {args.model} (binary activations and input); the authors' τ = "
                f"{config.temperature:g} and batchnorm without affine parameters, but BayesBiNN lr "
                f"{method_lr(config, 'bayesbinn', preset):g} (theirs: 1e-3 with 100 epochs per task)")
    else:
        config = continual_config(preset, dataset=args.dataset, epochs=args.authors_epochs, device=args.device)
        what = (f"the authors' experiment (their 784-100-100-10 with binary weights and ReLU activations, τ = "
                f"{config.temperature:g}, BayesBiNN lr {method_lr(config, 'bayesbinn', preset):g}, "
                f"{config.test_samples}-sample predictive" + (", as published" if args.authors_epochs == 100 else
                f"; {args.authors_epochs} epochs per task instead of their 100") + "; not hardware")
    result = _finished_continual(out / f"continual-{preset}", config.epochs, args.tasks)
    if result is None:
        result = continual_in_parallel(config, out / f"continual-{preset}", args, preset)
    return result, (f"\nContinual learning, preset `{preset}`, permuted {args.dataset} ({args.tasks} tasks, task 1 "
                    f"unpermuted), {config.epochs} epochs per task: {what}; see bnn2hw.train.continual."
                    f"\n\n{continual_table(result)}")


def _check(text: str, value: float, bound: float, at_most: bool) -> str:
    met = value <= bound if at_most else value >= bound
    return f"- {text}: {value:.4f} {'≤' if at_most else '≥'} {bound:.4f}: {'met' if met else 'MISSED'}"


def _difference(a: dict, b: dict, key_a: str, key_b: str | None = None) -> str:
    """Difference of seed means in points, ± the root sum of squares of the two per-seed sds."""
    key_b = key_b or key_a
    spread = (a.get(f"{key_a}_sd", 0.0) ** 2 + b.get(f"{key_b}_sd", 0.0) ** 2) ** 0.5
    return f"{100 * (a[key_a] - b[key_b]):+.2f} ± {100 * spread:.2f} points (± √(sd₁² + sd₂²) of the seeds)"


def targets_text(rows: list[dict], continual: dict | None) -> str:
    """The targets of issue 18 (and the continual one), checked on the seed means."""
    by = {r["method"]: r for r in rows}
    lines = []
    ste, bb = by.get("ste"), by.get("bayesbinn")
    if ste and bb and "ens_nll" in bb:
        lines += [_check("BayesBiNN mode accuracy vs 0.833 − 0.005", bb["mode_acc"], 0.828, False),
                  _check("ensemble NLL vs 0.95 × STE's", bb["ens_nll"], 0.95 * ste["mode_nll"], True),
                  _check("ensemble NLL vs 0.95 × its mode network's", bb["ens_nll"], 0.95 * bb["mode_nll"], True),
                  _check("ensemble ECE vs 0.7 × STE's", bb["ens_ece"], 0.7 * ste["mode_ece"], True),
                  _check("ensemble OOD AUROC vs STE's + 0.03", bb["ens_ood_auroc"], ste["mode_ood_auroc"] + 0.03, False),
                  _check("share of weights with q(w=+1) in [0.05, 0.95] vs 5 %", bb["uncertain_share"], 0.05, False)]
    for preset, result in (continual or {}).items():
        if {"bayesbinn", "ste"} <= set(result["methods"]):
            methods = result["methods"]
            gap = methods["bayesbinn"]["average_acc"] - methods["ste"]["average_acc"]
            lines.append(f"- continual ({preset}) average accuracy, BayesBiNN − STE = {100 * gap:+.1f} points "
                         f"(target ≥ +5): {'met' if gap >= 0.05 else 'MISSED'}")
    for a, b, what in (("pbnet-s-transfer", "pbnet", "PBNet-S (transferred init) vs PBNet"),
                       ("pbnet-s-transfer", "ste", "PBNet-S (transferred init) vs STE"),
                       ("pbnet-s-transfer", "ste-continued", "PBNet-S (transferred init) vs STE continued "
                        "for the same epochs from the same run"),
                       ("pbnet-s-transfer-bce", "ste", "PBNet-S (transferred init, per-class BCE) vs STE"),
                       ("lns", "ste-finetune", "LNS vs plain fine-tuning (same extra epochs)")):
        if a in by and b in by:
            lines.append(f"- {what}: mode accuracy {_difference(by[a], by[b], 'mode_acc')}"
                         + (f"; {a}'s ensemble against {b}'s mode {_difference(by[a], by[b], 'ens_acc', 'mode_acc')}"
                            if "ens_acc" in by[a] and "ens_acc" not in by[b] else ""))
    return "Targets (means over seeds):\n\n" + "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sfc")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first..first+seeds-1 (a confirmation "
                        "on fresh seeds: give it with --no-write and another --out)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (each on one thread)")
    parser.add_argument("--methods", type=lambda t: t.split(","), default=list(METHODS))
    parser.add_argument("--lns-epochs", type=int, default=2)
    parser.add_argument("--transfer-epochs", type=int, default=20, help="epochs of the runs started from the "
                        "STE run: pbnet-s-transfer(-bce) and their control ste-continued")
    parser.add_argument("--continual-epochs", type=int, default=2, help="epochs per task, binary preset")
    parser.add_argument("--authors-epochs", type=int, default=100, help="epochs per task, authors preset")
    parser.add_argument("--continual-presets", type=lambda t: t.split(","), default=["binary", "authors"])
    parser.add_argument("--tasks", type=int, default=5)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--no-continual", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (every run)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    unknown = set(args.methods) - set(METHODS)
    if unknown or (set(FROM_STE) & set(args.methods) and "ste" not in args.methods):
        parser.error(f"--methods: choose from {', '.join(METHODS)} ({', '.join(FROM_STE)} need ste); "
                     f"got {', '.join(args.methods)}")
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_methods-"))
    start = time.perf_counter()
    reused = sum((out / f"{n}-{seed}" / "bench_run.json").is_file() for n in args.methods for seed in seed_range(args))
    summary = summarise(run_methods(args, out))
    table = methods_table(summary)
    print(table, flush=True)
    continual, ctable = {}, ""
    for preset in ([] if args.no_continual else args.continual_presets):
        continual[preset], text = run_continual_preset(args, out, preset)
        ctable += text
    targets = targets_text(summary, continual)
    print(ctable + "\n" + targets)
    lns = (f" (lns and ste-finetune: {args.lns_epochs} more epochs on the STE run; pbnet-s-transfer(-bce) and "
           f"ste-continued: {args.transfer_epochs} more from it)" if set(FROM_STE) & set(args.methods) else "")
    pbnet = " (PBNet members re-estimate batchnorm statistics on 10 training batches)" if "pbnet" in args.methods else ""
    text = (f"{args.model} on {args.dataset}, {args.epochs} epochs per method{lns}, default learning rates, seeds "
            f"{args.first_seed}..{args.first_seed + args.seeds - 1} (mean ± sd); ensembles of {args.samples} posterior samples{pbnet}; OOD = sklearn digits upscaled ×3 and zero-padded to 28×28, scored by predictive entropy. "
            f"bayesbinn = the default preset ({TrainConfig().preset}), bayesbinn-paper = the authors' settings. "
            f"'ens. ≠ mode': share of test images whose ensemble label differs from the mode network's. "
            f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.jobs} runs at a time on "
            f"1 thread each, shared machine (load: 1-minute load average at the end of each run); "
            f"{time.perf_counter() - start:.0f} s in all"
            + (f" ({reused} runs measured by earlier calls with the same --out)" if reused else "")
            + f".\n\n{table}{ctable}\n{targets}")
    if not args.no_write:
        full = args.methods == list(METHODS) and not args.no_continual
        key, title = (("bench_methods", "Training methods: calibration, OOD, continual learning") if full else
                      ("bench_posterior", "BayesBiNN posterior: uncertainty that survives training"))
        write_section(key, title, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
