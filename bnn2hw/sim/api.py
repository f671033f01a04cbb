"""``simulate``: a build directory -> bit-exact simulation of its accelerator -> ``BUILD/sim.json``.

Contract: ``simulate(build_dir, dataset=None, limit=None, ensemble=None, data_dir=None,
output_scale=None, reference="numpy", log=None)`` (the ``bnn2hw simulate`` command) loads
``BUILD/hw/dataflow.onnx`` (+ ``dataflow_parent.onnx``), runs the dataset's test split (the
dataset named in ``BUILD/verify.json`` unless ``dataset`` is given; the first ``limit`` images)
through ``bnn2hw.sim.Accelerator``, compares every image's label and integer scores with
``BUILD/model.onnx`` (``compare.reference_outputs``: numpy, or qonnx's execution for graphs the
numpy reference cannot run, e.g. an imported Brevitas export; ``reference`` says which; float
scores before TopK are compared by label only, ``scores_compared``) and writes ``BUILD/sim.json``:
``images``, ``accuracy`` (of the simulated hardware), ``mismatches`` (images differing from
model.onnx in label or any score), ``label_mismatches``, ``score_mismatches``, ``overflows``
(every value flagged: accumulators/registers outside their annotated type, stream values
outside the input type, weights/thresholds outside theirs), ``images_per_s`` (simulator only),
``cycles`` (per node, FINN's expected cycles), ``cycles_max`` (the throughput bound: frames/s =
clock / cycles_max), ``cycles_sum`` (≈ latency), ``fps_bound`` at the build's clock, ``nodes``
(per-node flags). Both counts are 0 for a correct build.

Ensembles: ``ensemble=K`` also simulates posterior samples 0..K-1, each a complete build in
``BUILD/samples/<k>/`` (``model.onnx`` from ``compile_run(run, BUILD/samples/<k>, sample=k)``,
``hw/`` from ``build(BUILD/samples/<k>, board, folding=BUILD/hw/folding.json)`` so every member
has the same folding), and reports under ``ensemble`` the averaged softmax of
``output_scale · scores`` (``bnn2hw.sim.ensemble``), its ``disagreement`` with the mode build's
labels and ``posterior_uncertain_share`` (from ``verify.json``, written by ``compile``; None
when absent). ``output_scale`` defaults to
``verify.json``'s ``output_scale`` when present, else 1/sqrt(fan-in of the last layer) (the
initial value of the model's OutputScale), and sim.json says which.

On-chip ensembles: on a build whose compile exported the posterior (``posterior.json``,
``compile --posterior-bits B``), ``ensemble=K`` runs the on-chip semantics instead
(``bnn2hw.sim.posterior.onchip_ensemble``): K passes of every image, pass k with the weights
``mode XOR (u < P)`` that ``bnn2hw.sim.sampler``'s LFSRs give, the softmax of the K score
vectors averaged as the host does; reported under ``onchip_ensemble`` (``samples``,
``accuracy``, ``nll``, ``ece``, ``mode_nll``, ...). A build holding both a posterior and
``samples/`` reports both. Raises ``SimError``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from bnn2hw.jsonfile import read_json, read_json_if_present
from bnn2hw.posterior_memory import has_posterior
from bnn2hw.sim.accelerator import Accelerator
from bnn2hw.sim.compare import compare, reference_engine, reference_outputs
from bnn2hw.sim.datatypes import SimError
from bnn2hw.sim.ensemble import ensemble_metrics
from bnn2hw.sim.posterior import onchip_ensemble

SIM_FILE, SAMPLES_DIR, MODEL_FILE = "sim.json", "samples", "model.onnx"
MAX_ELEMENTS_PER_CHUNK = 1 << 24


def test_split(build_dir: Path, dataset: str | None, data_dir, limit: int | None):
    from bnn2hw.data import DatasetError, load_dataset
    summary = build_dir / "verify.json"
    if dataset is None and summary.is_file():
        dataset = read_json(summary, SimError).get("dataset")
    if dataset is None:
        raise SimError(f"no dataset given and none named in {summary}; pass --dataset")
    try:
        data = load_dataset(dataset, data_dir)
    except (DatasetError, OSError, ValueError) as err:
        raise SimError(f"cannot load dataset {dataset!r}: {err}") from None
    stop = len(data.x_test) if limit is None else int(limit)
    return data.x_test[:stop], data.y_test[:stop], dataset


def _check_image_shape(model_path: Path, images: np.ndarray, dataset: str) -> None:
    import onnx
    if not model_path.is_file():
        raise SimError(f"{model_path}: no such file; the simulation is compared with it")
    dims = onnx.load(str(model_path)).graph.input[0].type.tensor_type.shape.dim
    shape = tuple(d.dim_value for d in dims)[1:]
    if tuple(images.shape[1:]) != shape:
        raise SimError(f"dataset {dataset!r} has images of shape {tuple(images.shape[1:])}, the build takes "
                       f"{shape} ({model_path}); pass the build's --dataset")


def _chunk_size(accelerator: Accelerator) -> int:
    largest = max(int(np.prod(k.input_shape())) for k in accelerator.kernels)
    return max(1, MAX_ELEMENTS_PER_CHUNK // max(largest, 1))


def run_accelerator(accelerator: Accelerator, images: np.ndarray):
    """(labels (N, K), scores (N, classes), seconds) over the images, in memory-bounded chunks."""
    labels, scores, step = [], [], _chunk_size(accelerator)
    t0 = time.perf_counter()
    for start in range(0, len(images), step):
        out = accelerator.run(images[start:start + step])
        labels.append(out.labels)
        scores.append(out.scores)
    seconds = time.perf_counter() - t0
    if not labels:
        return np.zeros((0, 1), np.int64), np.zeros((0, 0), np.int64), seconds
    return np.concatenate(labels), np.concatenate(scores), seconds


def _flag_totals(accelerator: Accelerator) -> dict:
    stats = [k.stats for k in accelerator.kernels]
    return {"overflows": sum(s.flagged for s in stats),
            "accumulator_overflows": sum(s.overflows for s in stats),
            "input_misfits": sum(s.input_misfits for s in stats),
            "parameter_misfits": sum(s.parameter_misfits for s in stats),
            "nodes": [s.as_dict() for s in stats]}


def _cycles(accelerator: Accelerator, hw_dir: Path) -> dict:
    cycles = accelerator.cycles()
    out = {"cycles": cycles, "cycles_max": max(cycles.values()), "cycles_sum": sum(cycles.values())}
    estimates = hw_dir / "estimates.json"
    if estimates.is_file():
        clock = read_json(estimates, SimError).get("clock_mhz")
        if clock:
            out["clock_mhz"] = clock
            out["fps_bound"] = clock * 1e6 / out["cycles_max"]
    return out


def simulate_build(build_dir: Path, images: np.ndarray, labels: np.ndarray, reference: str = "numpy") -> dict:
    """One build: simulator run, comparison with its model.onnx, flags and cycles."""
    accelerator = Accelerator.load(build_dir / "hw")
    sim_labels, sim_scores, seconds = run_accelerator(accelerator, images)
    engine, described = reference_engine(build_dir / MODEL_FILE, reference)
    ref_labels, ref_scores = reference_outputs(build_dir / MODEL_FILE, images, engine)
    report = {"images": int(len(images)),
              "accuracy": float(np.mean(sim_labels[:, 0] == labels)) if len(labels) else float("nan"),
              **compare(sim_labels[:, 0], sim_scores, ref_labels, ref_scores),
              **_flag_totals(accelerator),
              "images_per_s": len(images) / seconds if seconds > 0 else float("inf"),
              "sim_seconds": round(seconds, 4), "reference": described,
              **_cycles(accelerator, build_dir / "hw")}
    report["_scores"] = sim_scores
    return report


def output_scale_for(build_dir: Path, given: float | None = None) -> tuple[float, str]:
    """(scale, where it came from): the softmax scale of the build's integer scores (module docstring)."""
    if given is not None:
        return float(given), "given by the caller"
    summary = Path(build_dir) / "verify.json"
    stored = read_json_if_present(summary, SimError).get("output_scale")
    if stored:
        return float(stored), "verify.json output_scale"
    node = Accelerator.load(Path(build_dir) / "hw").score_node
    if node is None:
        return 1.0, "1: no score layer found and none stored in verify.json"
    return 1.0 / math.sqrt(node.mw), f"1/sqrt({node.mw}): OutputScale's initial value (none stored in verify.json)"


def _ensemble(build_dir: Path, k: int, images, labels, reference: str, scale: float,
              mode_scores: np.ndarray) -> dict:
    members, flags = [], {"mismatches": 0, "overflows": 0}
    for sample in range(k):
        sample_dir = build_dir / SAMPLES_DIR / str(sample)
        if not (sample_dir / "hw" / "dataflow.onnx").is_file():
            raise SimError(f"{sample_dir}: missing posterior sample {sample} of --ensemble {k} (compile with "
                           f"--samples {k}, then build again; API: compile_run(run, {sample_dir}, sample={sample}) "
                           f"then build(...) into it)")
        report = simulate_build(sample_dir, images, labels, reference)
        members.append(report.pop("_scores"))
        flags["mismatches"] += report["mismatches"]
        flags["overflows"] += report["overflows"]
    posterior = read_json_if_present(build_dir / "verify.json", SimError).get("posterior_uncertain_share")
    return {**ensemble_metrics(members, labels, scale, mode_scores), **flags,
            "posterior_uncertain_share": posterior, "samples_dir": str(build_dir / SAMPLES_DIR)}


def simulate(build_dir, dataset: str | None = None, limit: int | None = None, ensemble: int | None = None,
             data_dir=None, output_scale: float | None = None, reference: str = "numpy", log=None) -> dict:
    """Simulate a build and write ``BUILD/sim.json`` (see module docstring); returns the dict."""
    build_dir = Path(build_dir)
    if limit is not None and not (type(limit) is int and limit >= 1):
        raise SimError(f"limit (--limit) must be an integer >= 1, got {limit!r}")
    if ensemble is not None and not (type(ensemble) is int and ensemble >= 0):
        raise SimError(f"ensemble (--ensemble) must be an integer >= 0, got {ensemble!r}")
    if not (build_dir / "hw" / "dataflow.onnx").is_file():
        raise SimError(f"{build_dir / 'hw' / 'dataflow.onnx'}: no such file; run `bnn2hw build` first")
    images, labels, dataset = test_split(build_dir, dataset, data_dir, limit)
    _check_image_shape(build_dir / MODEL_FILE, images, dataset)
    report = simulate_build(build_dir, images, labels, reference)
    scores = report.pop("_scores")
    report = {"build": str(build_dir), "dataset": dataset, **report}
    scale, source = output_scale_for(build_dir, output_scale)
    report.update(output_scale=scale, output_scale_source=source,
                  **{f"mode_{key}": value for key, value in ensemble_metrics([scores], labels, scale).items()
                     if key in ("nll", "ece", "entropy")})
    if ensemble and has_posterior(build_dir):
        report["onchip_ensemble"] = {**onchip_ensemble(build_dir, images, labels, int(ensemble), scale, scores),
                                     "mode_nll": report["mode_nll"], "mode_ece": report["mode_ece"]}
    if ensemble and (not has_posterior(build_dir) or (build_dir / SAMPLES_DIR).is_dir()):
        report["ensemble"] = _ensemble(build_dir, int(ensemble), images, labels, reference, scale, scores)
    (build_dir / SIM_FILE).write_text(json.dumps(report, indent=2) + "\n")
    if log is not None:
        log(f"bnn2hw simulate: {report['images']} images, accuracy {report['accuracy']:.4f}, "
            f"{report['mismatches']} mismatches, {report['overflows']} overflows, "
            f"{report['images_per_s']:,.0f} images/s, {report['cycles_max']} cycles/frame")
    return report
