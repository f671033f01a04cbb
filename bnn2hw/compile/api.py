"""``compile_run``: a training run directory -> ``BUILD/model.onnx`` + ``BUILD/verify.json``.

Contract: ``compile_run(run_dir, out_dir, sample=None, data_dir=None)`` loads
``run_dir/checkpoint.pt``, takes the deterministic binary network — the posterior mode
sign(λ) by default, or posterior sample ``k`` (the k-th Bernoulli draw, 0-based, of a
``torch.Generator`` seeded with the run's seed: member k of the training ensemble; where the
members re-estimate batchnorm (PBNet), sample k does so on the run's training split exactly as
member k) — folds it into an ``IntegerNetwork``, writes the QONNX graph and verifies it on the
run's whole test split against the integer reference; returns the summary dict (also ``verify.json``;
for a method with a posterior it holds ``posterior_uncertain_share``, the share of weights with
q(w = +1) in [0.05, 0.95], which ``bnn2hw simulate --ensemble`` reports).
``posterior_bits=B`` (> 0; ``--posterior-bits``) also exports the posterior beside the mode
network (``bnn2hw.compile.posterior``: ``posterior.json`` + ``posterior.npz``, flip probabilities
relative to the mode quantized to B bits, the on-chip sampler's memories) and summarizes it
under ``posterior`` in verify.json; refused for a method without a posterior or with ``sample``.
Anything that cannot be compiled raises ``CompileError`` saying why: a missing file, a corrupt
or foreign checkpoint, an unsupported layer or a network that is not binary, a bad ``sample``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from bnn2hw.compile.integer_net import CompileError, IntegerNetwork, integer_network
from bnn2hw.compile.posterior import check_posterior_request, export_posterior
from bnn2hw.compile.qonnx_export import save, to_qonnx
from bnn2hw.compile.verify import verify_network
from bnn2hw.data import DatasetError, load_dataset
from bnn2hw.models import BinaryNet, OutputScale
from bnn2hw.posterior_memory import JSON_FILE as POSTERIOR_JSON
from bnn2hw.train.checkpoint import CheckpointError, load_trained
from bnn2hw.train.method_base import Method, ReadOut, binary_weights, uncertain_share, use_weights
from bnn2hw.train.batchnorm import reestimate_batchnorm
from bnn2hw.train.evaluate import member_bn_seed
from bnn2hw.train.uncertainty import NEEDS_BN_REESTIMATION

MODEL_FILE, VERIFY_FILE = "model.onnx", "verify.json"


def load_run(run_dir: Path) -> tuple[dict, BinaryNet]:
    """(checkpoint dict, model with its trained state) of a run directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CompileError(f"{run_dir}: no such run directory")
    try:
        return load_trained(run_dir)
    except CheckpointError as err:
        raise CompileError(str(err)) from None


def check_hardware_ready(run_dir: Path, model: BinaryNet) -> None:
    """Refuse a network whose activations are not binary (it has no integer-threshold form)."""
    if not model.hardware_ready:
        raise CompileError(f"{run_dir}: model {model.config.name!r} has real-valued ReLU activations (the BayesBiNN "
                           f"authors' continual-learning network, kept to reproduce their experiment); only fully "
                           f"binary networks compile to hardware: train tfc, sfc, lfc, cnv or mlp:W1,... instead")


def run_weights(ckpt: dict, model: BinaryNet, sample: int | None = None) -> list[torch.Tensor]:
    """±1 weights per binary layer: the posterior mode, or posterior sample ``sample``."""
    method, latent = ckpt["config"].get("method"), list(ckpt["latent"])
    if len(latent) != len(model.binary_layers()):
        raise CompileError(f"checkpoint has {len(latent)} latent tensors for {len(model.binary_layers())} binary layers")
    try:
        method = Method(method)
    except ValueError:
        raise CompileError(f"unknown training method {method!r} in the checkpoint") from None
    if sample is None:
        return binary_weights(method, latent, ReadOut.MODE)
    if not method.probabilistic:
        raise CompileError(f"method {method.value!r} has no posterior to sample; compile without --sample")
    if not isinstance(sample, int) or sample < 0:
        raise CompileError(f"sample must be a non-negative integer, got {sample!r}")
    generator = torch.Generator().manual_seed(int(ckpt["config"].get("seed", 0)))
    for _ in range(sample + 1):
        weights = binary_weights(method, latent, ReadOut.SAMPLE, generator)
    return weights


def output_scale(model: BinaryNet) -> float:
    """The positive scalar the torch model multiplies its integer scores by (softmax temperature);
    hardware drops it (argmax is unchanged), the simulator's ensembles use it for probabilities."""
    scales = [float(m.log_scale.detach().exp()) for m in model.layers if isinstance(m, OutputScale)]
    return scales[-1] if scales else 1.0


def compile_model(model: BinaryNet, weights: list[torch.Tensor]) -> IntegerNetwork:
    return integer_network(model, weights)


def float_labels(model: BinaryNet, weights: list[torch.Tensor], images: np.ndarray, batch: int = 1000) -> np.ndarray:
    """Labels of the torch float forward of the same binary network."""
    with use_weights(model, weights), torch.no_grad():
        chunks = [model(torch.from_numpy(images[i:i + batch])).argmax(1) for i in range(0, len(images), batch)]
    return torch.cat(chunks).numpy().astype(np.int64) if chunks else np.zeros(0, np.int64)


def _run_data(ckpt: dict, data_dir):
    """The run's dataset with its own validation split (so the training split is the run's)."""
    config = ckpt["config"]
    name = config.get("dataset")
    try:
        return load_dataset(name, data_dir if data_dir is not None else config.get("data_dir"),
                            val_fraction=config.get("val_split", 0.0), seed=int(config.get("seed", 0)))
    except (DatasetError, ValueError, OSError) as err:
        raise CompileError(f"cannot load the run's dataset {name!r}: {err}") from None


def member_batchnorm(ckpt: dict, model: BinaryNet, weights: list[torch.Tensor], sample: int | None,
                     train_images: np.ndarray) -> None:
    """Give posterior sample ``sample`` its own batchnorm statistics where the method's ensemble
    members have them (as ``bnn2hw.train.evaluate.ensemble_probs`` member k); else nothing."""
    if sample is None or Method(ckpt["config"].get("method")) not in NEEDS_BN_REESTIMATION:
        return
    with use_weights(model, weights):
        reestimate_batchnorm(model, train_images, seed=member_bn_seed(int(ckpt["config"].get("seed", 0)), sample))


def _weighted(exported: dict, key: str) -> float:
    """A per-layer share of posterior.json averaged over all weights."""
    sizes = [int(np.prod(layer["shape"])) for layer in exported["layers"]]
    return float(sum(n * layer[key] for n, layer in zip(sizes, exported["layers"])) / max(1, sum(sizes)))


def compile_run(run_dir, out_dir, sample: int | None = None, data_dir=None, posterior_bits: int = 0) -> dict:
    """Write ``out_dir/model.onnx`` and ``out_dir/verify.json``; return the summary."""
    t0 = time.perf_counter()
    ckpt, model = load_run(Path(run_dir))
    check_hardware_ready(Path(run_dir), model)
    check_posterior_request(ckpt, posterior_bits, sample)
    weights = run_weights(ckpt, model, sample)
    t_data = time.perf_counter()
    data = _run_data(ckpt, data_dir)
    data_seconds = time.perf_counter() - t_data  # reading the data set is not compiling
    member_batchnorm(ckpt, model, weights, sample, data.x_train)
    net = compile_model(model, weights)
    qonnx_model = to_qonnx(net)
    t1 = time.perf_counter()
    images, labels, dataset = data.x_test, data.y_test, ckpt["config"].get("dataset")
    if images.shape[1:] != net.in_shape:
        raise CompileError(f"dataset {dataset!r} images are {images.shape[1:]}, the model takes {net.in_shape}")
    report = verify_network(net, qonnx_model, images, labels, float_labels(model, weights, images))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save(qonnx_model, out_dir / MODEL_FILE)
    summary = {**report, "run": str(run_dir), "model": model.config.name, "dataset": dataset,
               "readout": "mode" if sample is None else f"sample {sample}",
               "compile_seconds": round(t1 - t0 - data_seconds, 3), "total_seconds": round(time.perf_counter() - t0, 3),
               "model_onnx": MODEL_FILE, "output_scale": output_scale(model)}
    if Method(ckpt["config"]["method"]).probabilistic:
        summary["posterior_uncertain_share"] = uncertain_share(list(ckpt["latent"]))
    if posterior_bits:
        exported = export_posterior(ckpt, qonnx_model, posterior_bits, out_dir)
        summary["posterior"] = {"bits": posterior_bits, "file": POSTERIOR_JSON, "seed": exported["seed"],
                                "deterministic_share": _weighted(exported, "deterministic_share"),
                                "mean_flip_probability": _weighted(exported, "mean_flip_probability")}
    (out_dir / VERIFY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return summary
