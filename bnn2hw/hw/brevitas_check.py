"""Cross-check with the ecosystem: the same binary network via Brevitas + FINN's own folding.

Contract: ``brevitas_cross_check(model, weights, net, qonnx_model, images)`` builds the
deterministic binary network (``weights``, ±1) as a Brevitas model — 1-bit ``QuantLinear`` /
``QuantConv2d`` weights with scale 1, 1-bit ``QuantIdentity`` activations, the trained
batchnorms as stored, the input as sign(pixel − 128) — exports it with
``brevitas.export.export_qonnx``, lets FINN convert and streamline it (FINN folds batchnorm
into float thresholds by its own rules, then ``RoundAndClipThresholds``), and compares:

- labels of FINN's streamlined Brevitas graph with bnn2hw's ``model.onnx`` under qonnx
  execution, image by image: ``label_mismatches`` (0 expected);
- every hidden channel's threshold, both mapped to the same accumulator 2·popcount − K and
  canonicalised to the smallest reachable accumulator value (acc ≡ K mod 2, clipped to
  [−K, K + 2]): ``threshold_differences`` lists each channel where FINN's float-derived
  threshold differs from bnn2hw's exact one.
Only MLPs with 1-bit input are cross-checked for thresholds (``thresholds_checked``);
labels are compared for every network. A network with a γ = 0 channel is ``skipped``: FINN's
folding divides by γ (see ``finn_unfoldable``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from qonnx.core.modelwrapper import ModelWrapper

from bnn2hw.compile.integer_net import Conv, Dense, IntegerNetwork, Threshold
from bnn2hw.compile.qonnx_export import with_batch
from bnn2hw.compile.verify import run_qonnx
from bnn2hw.models import BinaryConv2d, BinaryLinear, BinaryNet, InputQuant, OutputScale, SignActivation


def _brevitas_quants():
    from brevitas.quant import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst

    class UnitBinaryWeight(SignedBinaryWeightPerTensorConst):
        scaling_const = 1.0

    return UnitBinaryWeight, SignedBinaryActPerTensorConst


class _Centre(nn.Module):
    """Raw pixels − 128, so that sign(·) with sign(0) = +1 is 'pixel >= 128'."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - 128.0


def brevitas_model(model: BinaryNet, weights: list[torch.Tensor]) -> nn.Sequential:
    """The Brevitas twin of ``model`` computing with ±1 ``weights`` (scores without OutputScale)."""
    import brevitas.nn as qnn
    weight_quant, act_quant = _brevitas_quants()
    weights, layers = list(weights), []
    for layer in model.layers:
        if isinstance(layer, InputQuant):
            if layer.pad_to is not None:
                h, w = model.config.in_shape[1:]
                top, left = (layer.pad_to - h) // 2, (layer.pad_to - w) // 2
                layers.append(nn.ZeroPad2d((left, layer.pad_to - w - left, top, layer.pad_to - h - top)))
            if layer.input_bits == 1:
                layers += [_Centre(), qnn.QuantIdentity(act_quant=act_quant, return_quant_tensor=False)]
        elif isinstance(layer, (BinaryLinear, BinaryConv2d)):
            twin = (qnn.QuantLinear(layer.in_features, layer.out_features, bias=False, weight_quant=weight_quant)
                    if isinstance(layer, BinaryLinear) else
                    qnn.QuantConv2d(layer.in_channels, layer.out_channels, layer.kernel_size, bias=False,
                                    weight_quant=weight_quant))
            twin.weight.data.copy_(weights.pop(0))
            layers.append(twin)
        elif isinstance(layer, SignActivation):
            layers.append(qnn.QuantIdentity(act_quant=act_quant, return_quant_tensor=False))
        elif not isinstance(layer, OutputScale):
            layers.append(layer)  # batchnorm, max-pool and flatten as they are
    return nn.Sequential(*layers).eval()


def finn_streamlined_brevitas(model: BinaryNet, weights: list[torch.Tensor]) -> ModelWrapper:
    """Brevitas export -> qonnx cleanup -> TopK -> FINN frontend and streamlining."""
    from brevitas.export import export_qonnx
    from qonnx.transformation.insert_topk import InsertTopK
    from qonnx.util.cleanup import cleanup_model

    from bnn2hw.hw.finn_passes import finn_frontend, finn_streamline
    twin = brevitas_model(model, weights)
    example = torch.zeros(1, *model.config.in_shape)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "brevitas.onnx"
        export_qonnx(twin, example, export_path=str(path))
        exported = cleanup_model(ModelWrapper(str(path)))
    exported = exported.transform(InsertTopK(k=1))
    return finn_streamline(finn_frontend(exported))


def _canonical(t: np.ndarray, k: int) -> np.ndarray:
    """Smallest accumulator value in {−K, −K+2, ..., K, K+2} that is >= t."""
    t = np.clip(np.ceil(t), -k, k + 2).astype(np.int64)
    return t + ((t - k) % 2)


def _threshold_differences(net: IntegerNetwork, finn_model: ModelWrapper) -> list[dict]:
    """Per hidden channel, bnn2hw's exact threshold vs FINN's (on the popcount of its MVAU)."""
    ours = [(op, nxt) for op, nxt in zip(net.ops, net.ops[1:])
            if isinstance(op, (Dense, Conv)) and isinstance(nxt, Threshold)]
    theirs = [n for n in finn_model.graph.node if n.op_type == "MultiThreshold"][1:]  # skip input
    diffs = []
    for layer, ((op, thr), node) in enumerate(zip(ours, theirs)):
        k = int(np.prod(op.weight.shape[1:]))
        popcount_thresholds = finn_model.get_initializer(node.input[1])[:, 0]
        finn_t = _canonical(2.0 * popcount_thresholds - k, k)
        exact_t = _canonical(thr.threshold.astype(np.float64), k)
        for c in np.flatnonzero(finn_t != exact_t):
            diffs.append({"layer": layer, "channel": int(c), "bnn2hw": int(exact_t[c]), "finn": int(finn_t[c]),
                          "flip": bool(thr.flip[c])})
    return diffs


def _finn_labels(model: ModelWrapper, images: np.ndarray) -> np.ndarray:
    """Labels under FINN's execution: batched, except lowered convolutions (Im2Col's
    ``input_shape`` attribute fixes the batch size to 1), which run image by image."""
    from bnn2hw.hw.finn_passes import finn_execute
    name_in, name_out = model.graph.input[0].name, model.graph.output[0].name
    if model.get_nodes_by_op_type("Im2Col"):
        runs = [(model, images[i:i + 1]) for i in range(len(images))]
    else:
        runs = [(with_batch(model, len(images)), images)]
    out = [np.asarray(finn_execute(m, {name_in: x.astype(np.float32)})[name_out]).reshape(-1) for m, x in runs]
    return np.rint(np.concatenate(out)).astype(np.int64)


def finn_unfoldable(model: BinaryNet) -> list[str]:
    """Batchnorms FINN cannot fold: γ = 0 gives FINN thresholds T/0 = ±inf, on which
    finn-plus 1.6.1's RoundAndClipThresholds never terminates. bnn2hw folds them exactly."""
    return [f"layers.{i}" for i, m in enumerate(model.layers)
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None
            and bool((m.weight == 0).any())]


def brevitas_cross_check(model: BinaryNet, weights: list[torch.Tensor], net: IntegerNetwork,
                         qonnx_model: ModelWrapper, images: np.ndarray) -> dict:
    """Compare bnn2hw's QONNX graph with FINN-streamlined Brevitas (see module docstring)."""
    if unfoldable := finn_unfoldable(model):
        return {"images": 0, "skipped": f"batchnorm with γ = 0 at {', '.join(unfoldable)}: FINN's float "
                                         "folding divides by γ (infinite thresholds)"}
    finn_model = finn_streamlined_brevitas(model, weights)
    ours, _ = run_qonnx(qonnx_model, images)
    theirs = _finn_labels(finn_model, images)
    mlp = not any(isinstance(op, Conv) for op in net.ops) and net.input_bits == 1
    return {
        "images": int(len(images)),
        "label_mismatches": int((ours != theirs).sum()),
        "thresholds_checked": mlp,
        "threshold_differences": _threshold_differences(net, finn_model) if mlp else [],
    }
