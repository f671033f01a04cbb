"""Quality of the on-chip posterior ensemble (the LFSR sampler) against the software ensemble of exact q.

Contract: ``python scripts/bench_onchip_ensemble.py [--out DIR] [--seeds 3] [--epochs 5]
[--bits 1,2,4,8] [--passes 4,10,20] [--no-write]`` trains (or reuses, when ``DIR/<name>_s<seed>/
checkpoint.pt`` exists) SFC on Fashion-MNIST (TFC on digits where Fashion-MNIST is not installed)
with the default (calibrated) BayesBiNN preset, one run per seed, on one torch thread; compiles
each with ``--posterior-bits 8`` and builds it for pynq-z2 up to the estimates. Then, in
``bnn2hw.sim`` on the whole test split plus the OOD images (sklearn digits upscaled and
zero-padded, ``bnn2hw.train.uncertainty.ood_images``), with the build's output scale:

* ``mode``: the mode network (what the accelerator computes without a sampler);
* ``exact q``: K passes whose weights are independent Bernoulli draws of the exact posterior
  (numpy, seeded), the software ensemble of exact q with the same thresholds;
* ``on-chip B``: K passes of ``bnn2hw.sim.sampler`` with the flip probabilities quantized to B
  bits (``bnn2hw.posterior_memory``; B = 8 is checked equal to the compiled posterior.npz).

For every K it reports accuracy, NLL, ECE and OOD AUROC (predictive entropy) as mean ± sd over
the seeds, and the paired difference of NLL to the exact-q ensemble. Target (issue 30): at some
B ≤ 4 and K = 10, mean NLL within the seed-to-seed sd of the exact-q ensemble's NLL and below
the mode network's. Prints a Markdown table and, unless ``--no-write``, replaces the section
between ``<!-- bench_onchip_ensemble:start -->`` and ``end`` in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from benchmarks_md import write_section

EXACT_SEED = 12345


def dataset_choice() -> tuple[str, str]:
    from bnn2hw.data import load_dataset
    try:
        load_dataset("fashion-mnist")
        return "sfc", "fashion-mnist"
    except Exception:  # noqa: BLE001 - any failure means: not installed here
        return "tfc", "digits"


def train_run(out: Path, model: str, dataset: str, seed: int, epochs: int) -> Path:
    from bnn2hw.train import TrainConfig, train
    run = out / f"{model}_{dataset}_s{seed}"
    if not (run / "checkpoint.pt").is_file():
        train(TrainConfig(model=model, dataset=dataset, epochs=epochs, seed=seed), run, progress=False,
              log=lambda _: None)
    return run


def compile_and_build(run: Path, out: Path) -> Path:
    from bnn2hw.compile import compile_run
    from bnn2hw.hw import build
    build_dir = out / f"{run.name}_build"
    if not (build_dir / "hw" / "dataflow.onnx").is_file():
        compile_run(run, build_dir, posterior_bits=8)
        build(build_dir, board="pynq-z2", fps=100_000, verify_limit=100, stop_after="estimates", log=lambda _: None)
    return build_dir


def exact_flip_probabilities(run: Path) -> list[np.ndarray]:
    import torch
    from bnn2hw.compile.posterior import initializer_shaped
    from bnn2hw.posterior_memory import flip_probability
    latent = torch.load(run / "checkpoint.pt", weights_only=True)["latent"]
    return [flip_probability(initializer_shaped(t.double().numpy())) for t in latent]


def readout(members: list[np.ndarray], n_test: int, labels: np.ndarray, scale: float) -> dict:
    from bnn2hw.metrics import classification_metrics, predictive_entropy
    from bnn2hw.sim.ensemble import average_probabilities
    from bnn2hw.train.uncertainty import auroc
    probs = average_probabilities(members, scale)
    entropy = predictive_entropy(probs)
    return {**classification_metrics(probs[:n_test], labels), "ood_auroc": auroc(entropy[:n_test], entropy[n_test:])}


def exact_flips(samplers, p_exact: list[np.ndarray], passes: int, seed: int) -> list[np.ndarray]:
    """Independent Bernoulli(p) flips per pass, laid out as the sampler's (passes, WMEM, E) in element order."""
    from bnn2hw.sim.posterior import mvau_matrix, probability_lines
    rng = np.random.default_rng([EXACT_SEED, seed])
    out = []
    for s, p in zip(samplers, p_exact):
        k, p = s.kernel, mvau_matrix(p)
        draws = rng.random((passes,) + p.shape) < p
        out.append(np.stack([probability_lines(d.astype(np.int64), k.pe, k.simd, 1)[:, ::-1] for d in draws])
                   .astype(bool))
    return out


def evaluate_seed(run: Path, build_dir: Path, bits_list, passes_list, dataset: str, log) -> dict:
    from bnn2hw.data import load_dataset
    from bnn2hw.posterior_memory import Posterior, quantize_flip_probability, read_posterior
    from bnn2hw.sim.accelerator import Accelerator
    from bnn2hw.sim.api import output_scale_for, run_accelerator
    from bnn2hw.sim.posterior import layer_samplers, onchip_flips, run_passes
    from bnn2hw.train.uncertainty import ood_images
    data = load_dataset(dataset)
    images = np.concatenate([data.x_test, ood_images("digits", data.x_test)])
    n_test, labels = len(data.x_test), data.y_test
    scale, _ = output_scale_for(build_dir)
    accelerator = Accelerator.load(build_dir / "hw")
    compiled = read_posterior(build_dir)
    p_exact = exact_flip_probabilities(run)
    kmax = max(passes_list)
    rows = {("mode", 1): readout([run_accelerator(accelerator, images)[1]], n_test, labels, scale)}
    t0 = time.perf_counter()
    samplers = layer_samplers(accelerator, compiled)
    members = run_passes(accelerator, images, samplers, exact_flips(samplers, p_exact, kmax, compiled.seed))
    for k in passes_list:
        rows[("exact q", k)] = readout(members[:k], n_test, labels, scale)
    for bits in bits_list:
        codes = tuple(quantize_flip_probability(p, bits) for p in p_exact)
        if bits == compiled.bits:
            assert all(np.array_equal(a, b) for a, b in zip(codes, compiled.flips)), "posterior.npz != quantized p"
        posterior = Posterior(bits, compiled.seed, compiled.method, codes, compiled.modes)
        samplers = layer_samplers(accelerator, posterior)
        members = run_passes(accelerator, images, samplers, onchip_flips(samplers, posterior, kmax))
        det = sum(int((c == 0).sum()) for c in codes) / sum(c.size for c in codes)
        for k in passes_list:
            rows[(f"on-chip B={bits}", k)] = {**readout(members[:k], n_test, labels, scale), "deterministic": det}
    log(f"  {run.name}: {time.perf_counter() - t0:.0f} s of sampled passes over {len(images)} images")
    return rows


def mean_sd(values) -> str:
    v = np.asarray(values, dtype=np.float64)
    return f"{v.mean():.4f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.4f}"


def table(per_seed: list[dict], passes_list) -> tuple[str, list[str]]:
    keys = list(per_seed[0])
    lines = ["| read-out | K | acc | NLL | ECE | OOD AUROC | NLL − exact q (paired) | deterministic weights |",
             "|---|---:|---|---|---|---|---|---:|"]
    for key in keys:
        runs = [s[key] for s in per_seed]
        diff = "–"
        if key[0].startswith("on-chip"):
            exact = [s[("exact q", key[1])]["nll"] for s in per_seed]
            diff = mean_sd([r["nll"] - e for r, e in zip(runs, exact)])
        det = f"{100 * runs[0]['deterministic']:.1f} %" if "deterministic" in runs[0] else "–"
        lines.append(f"| {key[0]} | {key[1] if key[0] != 'mode' else '–'} | {mean_sd([r['acc'] for r in runs])} | "
                     f"{mean_sd([r['nll'] for r in runs])} | {mean_sd([r['ece'] for r in runs])} | "
                     f"{mean_sd([r['ood_auroc'] for r in runs])} | {diff} | {det} |")
    verdicts = []
    mode_nll = np.mean([s[("mode", 1)]["nll"] for s in per_seed])
    if 10 in passes_list:
        exact = np.array([s[("exact q", 10)]["nll"] for s in per_seed])
        spread = exact.std(ddof=1) if len(exact) > 1 else 0.0
        for key in keys:
            if key[0].startswith("on-chip") and key[1] == 10 and int(key[0].split("=")[1]) <= 4:
                nll = np.mean([s[key]["nll"] for s in per_seed])
                ok = abs(nll - exact.mean()) <= spread and nll < mode_nll
                verdicts.append(f"- {key[0]}, K = 10: NLL {nll:.4f} vs exact q {exact.mean():.4f} ± {spread:.4f} "
                                f"(seed sd), mode {mode_nll:.4f}: {'met' if ok else 'not met'}")
    return "\n".join(lines), verdicts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench_runs"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--bits", default="1,2,4,8")
    ap.add_argument("--passes", default="4,10,20")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    bits_list = [int(b) for b in args.bits.split(",")]
    passes_list = [int(k) for k in args.passes.split(",")]
    model, dataset = dataset_choice()
    t0 = time.perf_counter()
    per_seed = []
    for seed in range(args.seeds):
        run = train_run(args.out, model, dataset, seed, args.epochs)
        build_dir = compile_and_build(run, args.out)
        per_seed.append(evaluate_seed(run, build_dir, bits_list, passes_list, dataset, print))
    body, verdicts = table(per_seed, passes_list)
    load = os.getloadavg()[0]
    fallback = "" if dataset == "fashion-mnist" else " (Fashion-MNIST is not installed here: TFC on digits instead)"
    header = (f"{model} on {dataset}{fallback}, BayesBiNN preset calibrated, {args.epochs} epochs (fewer than the "
              f"methods benchmark's 10: two shared cores), seeds 0..{args.seeds - 1} (mean ± sd); bnn2hw.sim on the "
              f"whole test split + OOD sklearn digits (upscaled, zero-padded; AUROC of predictive entropy); "
              f"`exact q`: independent Bernoulli samples of the exact posterior; `on-chip B`: the LFSR sampler "
              f"(`bnn2hw.sim.sampler`) with flip probabilities quantized to B bits; same compiled thresholds for "
              f"all. `PYTHONPATH=. python scripts/bench_onchip_ensemble.py "
              f"{' '.join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))}`; "
              f"{platform.machine()}, torch {torch.__version__}, 1 thread; {time.perf_counter() - t0:.0f} s; "
              f"1-minute load average at the end {load:.1f}.")
    text = header + "\n\n" + body + "\n\nTarget (at some B ≤ 4 and K = 10, NLL within the exact-q ensemble's seed sd " \
        "and below the mode network's):\n\n" + "\n".join(verdicts) + "\n"
    print(text)
    if not args.no_write:
        write_section("bench_onchip_ensemble", "On-chip posterior ensemble: the LFSR sampler against exact q", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
