"""bnn2hw board driver: runs a bnn2hw accelerator package on a PYNQ board, or on its simulator.

Copied verbatim as ``driver.py`` into every ``bnn2hw deploy`` package, with its parts
(``bnn2hw_driver/``: packing, package files, backends) beside it; this file is the command line. Needs only numpy (1.x or
2.x) and, for ``--backend pynq``, ``pynq``; for ``--backend uart --port PORT [--baud N]``
(bnn2hw's UART shell on an ECP5 board), ``pyserial``; bnn2hw only for ``--backend sim``. Contract:
* ``python driver.py --inputs images.npy [--batch N] [--backend pynq|sim] [--ensemble K]
  [--output labels.npy]`` checks the raw uint8 images (shape ``io_spec.image.shape`` with a
  leading batch axis, values 0..255), applies the software layout ops (``preprocess``),
  folds and packs them into the input DMA's stream format, runs them, unpacks the output
  stream and prints/saves the class indices. ``--validate`` runs the bundled test set and
  prints the accuracy; ``--benchmark`` prints images/s and per-batch latency.
* Packing is FINN's ``finnpy_to_packed_bytearray(x, dt, reverse_inner=True,
  reverse_endian=True)`` (what FINN's PYNQ driver sends): each stream word of ``k`` elements of
  ``b`` bits is the integer ``sum(pattern[i] << i*b)`` (element 0 least significant), written as
  ``ceil(k*b/8)`` little-endian bytes; BIPOLAR -1/+1 is bit 0/1, INTn is two's complement.
  ``unpack_stream`` is the inverse (``packed_bytearray_to_finnpy``). Backends map packed input
  bytes to packed output bytes (``execute``) and take runtime weights (``load_weights``).
* ``--ensemble K`` loads posterior sample k = 0..K-1 (``weights/sample_k/*.dat``, FINN's
  runtime-weight files) into the runtime-writable weight memories and runs every input under
  each. A build whose accelerator outputs scores (``bnn2hw build --output scores``) averages the
  K members' probabilities, softmax(``output.output_scale`` · integer scores) (``ensemble``
  part): the label is the argmax of the average, and the report gives each image's predictive
  entropy (``--probabilities FILE.npz`` saves ``probabilities`` (N, classes) and ``entropy``);
  with ``--validate`` also the NLL and the mean entropy. A build that outputs labels can only take
  the majority vote of the K labels (ties: lowest class index). Either way the share of members
  agreeing with the ensemble's label is printed as its agreement. On a package whose accelerator
  has the posterior sampler (io_spec.json ``onchip_ensemble``: a build compiled with
  ``--posterior-bits``, built ``--impl rtl``) ``--ensemble K`` is the on-chip ensemble instead: no
  weights are written, the backend runs K sampled passes per image (``execute_passes``: the uart
  backend sends K in each frame's header and reads K replies; the sim backend computes the RTL
  sampler's passes with bnn2hw.sim) and the K passes' probabilities are averaged as above. The
  pynq backend is not among ``onchip_ensemble.backends`` (FINN's Vivado flow builds the MVAUs
  without the sampler): there ``--ensemble`` takes the runtime-weight samples when the package has
  them, and is refused otherwise.
* ``package.sha256`` (``sha256sum`` format: ``<sha256>  <path>`` a line) lists every file of the
  package, ``io_spec.json`` and ``driver.py`` included; the driver checks it, and io_spec.json's
  shape (``check_spec``: keys, output kind, class names, a manifest covering the test data and
  weights), before anything runs.
* Exit status: 0 done; 1 ``--validate`` ran and the labels differ from the simulator's labels
  bundled with the test data (``expected``: the board is not bit-exact); 2 refused. Anything
  unusable raises ``DriverError`` (printed as ``error: ...``, exit status 2): a missing or
  non-``.npy`` ``--inputs`` file, an object array, an empty batch, a count below 1; wrong image
  shape, dtype or range; an io_spec.json that is not JSON or lacks a key; files that do not match
  the build's checksum, the manifest or package.sha256; the pynq backend without pynq or without a
  bitfile; a missing weight sample.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if __package__:  # bnn2hw.deploy.driver_template, inside bnn2hw
    from .bnn2hw_driver import *  # noqa: F403 (the driver's parts, re-exported: driver.X as before)
else:  # driver.py of a deploy package: its parts are in bnn2hw_driver/ beside it
    sys.dont_write_bytecode = True  # leave the checksummed package as it was shipped
    sys.path.insert(0, str(HERE))
    from bnn2hw_driver import *  # noqa: F403


# ---- running ----

def classify(backend, images: np.ndarray, spec: dict) -> np.ndarray:
    """Top-1 class per checked image: LabelSelect's first label, or the argmax of raw scores."""
    flat = unpack_outputs(backend.execute(pack_inputs(images, spec)), spec).reshape(len(images), -1)
    return flat[:, 0] if spec["output"]["kind"] == "labels" else np.argmax(flat, axis=1)


def vote(member_labels: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(K, N) labels -> (majority label (N,), winner's vote share (N,)); ties -> lowest class."""
    counts = np.zeros((member_labels.shape[1], max(classes, int(member_labels.max(initial=0)) + 1)), np.int64)
    for labels in member_labels:
        counts[np.arange(len(labels)), labels] += 1
    return np.argmax(counts, axis=1), counts.max(axis=1) / len(member_labels)


def member_outputs(backend, images: np.ndarray, spec: dict) -> np.ndarray:
    """The accelerator's outputs (N, values) for checked images: a label, or the raw scores."""
    return unpack_outputs(backend.execute(pack_inputs(images, spec)), spec).reshape(len(images), -1)


def run_ensemble(backend, images: np.ndarray, spec: dict, package: Path, ensemble: int) -> dict:
    """Every posterior sample's outputs; ``labels`` and ``agreement`` (N,), and for a scores build
    ``probabilities`` (N, classes) and ``entropy`` (N,) of the averaged distribution."""
    weights = [sample_weights(spec, package, k) for k in range(ensemble)]
    outputs = []
    for sample in weights:
        backend.load_weights(sample)
        outputs.append(member_outputs(backend, images, spec))
    backend.load_weights(sample_weights(spec, package, "mode"))  # leave the accelerator as the build made it
    return combine_members(outputs, spec)


def onchip_ensemble(backend, images: np.ndarray, spec: dict, passes: int) -> dict:
    """K passes of the accelerator's posterior sampler per image (no weight writes), combined as
    ``run_ensemble`` combines the weight samples."""
    limit = int(spec["onchip_ensemble"].get("max_passes") or 0xFFFF)
    if not 1 <= passes <= limit:
        raise DriverError(f"--ensemble {passes}: the on-chip sampler runs 1 .. {limit} passes per image")
    if not hasattr(backend, "execute_passes"):
        raise DriverError(f"the {backend.name} backend has no on-chip ensemble")
    raw = backend.execute_passes(pack_inputs(images, spec), passes)      # (N, K, *packed output)
    return combine_members([unpack_outputs(raw[:, k], spec).reshape(len(images), -1) for k in range(passes)], spec)


def combine_members(outputs: list, spec: dict) -> dict:
    """The members' outputs (K of (N, values)) -> labels and agreement, and for scores the averaged
    softmax(output_scale · scores) and its entropy."""
    if spec["output"]["kind"] == "labels":
        labels, agreement = vote(np.stack([o[:, 0] for o in outputs]), len(spec.get("classes") or []))
        return {"labels": labels, "agreement": agreement}
    scores = [output_scores(o, spec) for o in outputs]
    probs = average_probabilities(scores, float(spec["output"].get("output_scale") or 1.0))
    labels = np.argmax(probs, axis=1)
    agreement = np.mean([np.argmax(s, axis=1) == labels for s in scores], axis=0)
    return {"labels": labels, "agreement": agreement, "probabilities": probs, "entropy": predictive_entropy(probs)}


def predict(backend, images, spec: dict, package: Path, ensemble: int | None = None):
    """Class indices of the images (and the ensemble's agreement, or None)."""
    labels, extra = _predict(backend, images, spec, package, ensemble)
    return labels, extra.get("agreement")


def benchmark(backend, spec: dict, batch: int, repeats: int = 5) -> dict:
    """images/s over full batches (best of ``repeats``, DMA round trips) and one image's latency."""
    packed = pack_inputs(np.zeros((batch,) + tuple(spec["image"]["shape"]), np.uint8), spec)

    def seconds(x: np.ndarray) -> float:
        t0 = time.perf_counter()
        backend.execute(x)
        return time.perf_counter() - t0
    seconds(packed[:1])
    best, single = min(seconds(packed) for _ in range(repeats)), seconds(packed[:1])
    return {"backend": backend.name, "batch": batch, "images_per_s": batch / best,
            "batch_latency_ms": 1e3 * best, "single_image_latency_ms": 1e3 * single}


def _predict(backend, images, spec: dict, package: Path, ensemble: int) -> tuple[np.ndarray, dict]:
    """(labels, the ensemble's extras: agreement, probabilities and entropy where it has them)."""
    images = check_images(images, spec)
    if not ensemble:
        return classify(backend, images, spec), {}
    onchip = spec.get("onchip_ensemble")
    if onchip and backend.name in onchip.get("backends", ()):
        result = onchip_ensemble(backend, images, spec, ensemble)
    elif onchip and not spec.get("runtime_weights"):
        raise DriverError(f"--ensemble on the {backend.name} backend: its accelerator has no posterior sampler "
                          f"(FINN's Vivado flow builds the MVAUs without it) and this package no runtime weights; "
                          f"the on-chip ensemble runs on --backend {' or '.join(onchip.get('backends', ()))}")
    else:
        result = run_ensemble(backend, images, spec, package, ensemble)
    return result["labels"], result


def main(argv=None, package: Path = HERE) -> int:
    parser = argparse.ArgumentParser(description="Run a bnn2hw accelerator package (see io_spec.json).")
    parser.add_argument("--inputs", help=".npy of raw uint8 images (N, C, H, W)")
    parser.add_argument("--output", help="save the class indices to this .npy")
    parser.add_argument("--validate", action="store_true", help="accuracy on the bundled test set")
    parser.add_argument("--benchmark", action="store_true", help="images/s and latency")
    parser.add_argument("--backend", choices=("pynq", "sim", "uart"), default="pynq",
                        help="pynq: a PYNQ board; sim: bnn2hw's simulator; uart: bnn2hw's UART shell (ECP5)")
    parser.add_argument("--port", help="uart backend: the board's serial port (/dev/ttyUSB0, COM3, a pyserial URL)")
    parser.add_argument("--baud", type=int, default=None,
                        help="uart backend: the line's baud rate (default: the package's, the build's --baud)")
    parser.add_argument("--retries", type=int, default=2, help="uart backend: resends of a frame the line "
                        "corrupted (error reply or bad reply CRC) before giving up")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--ensemble", type=int, default=0,
                        help="K posterior weight samples: averaged probabilities (scores builds) or a vote (labels); "
                             "on a build with the on-chip sampler, K sampled passes per image on the accelerator")
    parser.add_argument("--probabilities", help="with --ensemble on a scores build: save probabilities and "
                                                "entropy per image to this .npz")
    parser.add_argument("--limit", type=int, help="use only the first N images")
    parser.epilog = ("exit status: 0 done; 1 --validate found labels that differ from the simulator's "
                     "(the accelerator is not bit-exact); 2 refused input (error: ... says why)")
    args = parser.parse_args(argv)
    try:
        return _run(args, Path(package))
    except DriverError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as err:  # --output not writable, a package file unreadable
        print(f"error: {err.filename or ''}: {err.strerror or err}", file=sys.stderr)
        return EXIT_REFUSED


def _run(args, package: Path) -> int:
    if args.batch < 1 or args.ensemble < 0 or args.retries < 0:
        raise DriverError("--batch must be >= 1, --ensemble and --retries >= 0")
    if args.limit is not None and args.limit < 1:
        raise DriverError(f"--limit must be >= 1, got {args.limit}")
    if args.probabilities and not (args.ensemble and (args.inputs or args.validate)):
        raise DriverError("--probabilities needs --ensemble K and --inputs or --validate")
    if args.output and not Path(args.output).resolve().parent.is_dir():
        raise DriverError(f"--output {args.output}: no such directory {Path(args.output).resolve().parent}")
    if not (args.inputs or args.validate or args.benchmark):
        raise DriverError("nothing to do: give --inputs FILE, --validate or --benchmark")
    spec = load_spec(package)
    check_package(spec, package)
    if args.backend == "uart":
        backend = UartBackend(spec, package, args.batch, port=args.port, baud=args.baud, retries=args.retries)
    else:
        backend = {"pynq": PynqBackend, "sim": SimBackend}[args.backend](spec, package, args.batch)
    report = {"backend": args.backend}
    status = EXIT_OK
    if args.inputs:
        images = load_images(args.inputs, args.limit)
        labels, extra = _predict(backend, images, spec, package, args.ensemble)
        names = spec.get("classes") or []
        report["labels"] = labels.tolist()
        report["classes"] = [names[i] if i < len(names) else str(i) for i in labels.tolist()]
        if "entropy" in extra:
            report["entropy"] = [round(float(e), 6) for e in extra["entropy"]]
    if args.validate:
        if not spec.get("test_data"):
            raise DriverError("this package has no test data (its build named no dataset); use --inputs")
        data = np.load(package / spec["test_data"], allow_pickle=False)
        images, truth = data["images"][:args.limit], data["labels"][:args.limit]
        labels, extra = _predict(backend, images, spec, package, args.ensemble)
        report.update(images=int(len(labels)), accuracy=float(np.mean(labels == truth)) if len(labels) else 0.0)
        if args.ensemble:
            report.update(ensemble=args.ensemble, mean_agreement=float(extra["agreement"].mean()))
            if "probabilities" in extra and len(labels):
                picked = np.maximum(extra["probabilities"][np.arange(len(truth)), truth], PROB_FLOOR)
                report.update(nll=float(-np.mean(np.log(picked))), mean_entropy=float(extra["entropy"].mean()))
        elif "expected" in data.files:
            mismatches = int(np.count_nonzero(labels != data["expected"][:args.limit]))
            report["mismatches_with_simulator"] = mismatches
            if mismatches:
                status = EXIT_MISMATCH
                print(f"error: {mismatches} of {len(labels)} labels differ from bnn2hw.sim's (bundled in "
                      f"{spec['test_data']}): this accelerator is not bit-exact", file=sys.stderr)
    if args.probabilities:
        if "probabilities" not in extra:
            raise DriverError("--probabilities needs --ensemble K on a package whose accelerator outputs scores "
                              "(bnn2hw build --output scores)")
        np.savez(args.probabilities, probabilities=extra["probabilities"], entropy=extra["entropy"])
    if args.output and (args.inputs or args.validate):
        np.save(args.output, labels)
    if args.benchmark:
        report["benchmark"] = benchmark(backend, spec, args.batch)
    if args.backend == "uart":
        report["frames_resent"] = backend.resent
    print(json.dumps(report))
    return status


if __name__ == "__main__":
    sys.exit(main())

