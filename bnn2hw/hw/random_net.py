"""Random-weight BNNs as ``model.onnx``: what a topology costs in hardware before any training.

Contract: ``random_model_onnx(out_path, name, input_bits, in_shape, classes, seed)`` builds the
bnn2hw topology ``name`` (tfc, sfc, lfc, cnv, mlp:...) with seeded random ±1 weights and random
batchnorm statistics (so thresholds spread over the accumulator range, as after training),
folds it with the compiler (``bnn2hw.compile``: exact integer thresholds, QONNX) and saves the
QONNX graph at ``out_path``. Used by ``scripts/bench_build.py`` and the build tests; the graph
is exactly what ``bnn2hw compile`` writes for a trained run of that topology.

``random_rtl_build(root, name, input_bits, in_shape, dataset, fps, seed, folding, runtime_weights,
output)`` writes such a ``model.onnx`` (10 classes) and a ``verify.json`` naming ``dataset`` into
``root`` and builds it with ``--impl rtl`` on pynq-z2 (for the rate ``fps``, or with the FINN
``folding`` dict), quietly; returns ``root`` (its ``hw/rtl/`` holds the stitched accelerator).
The Verilator rungs and the stitched top's formal proof (``scripts/prove_rtl.py``) build with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def random_model_onnx(out_path, name: str, input_bits: int = 1, in_shape=(1, 28, 28), classes: int = 10,
                      seed: int = 0) -> Path:
    import torch

    from bnn2hw.compile import integer_network, to_qonnx
    from bnn2hw.compile.qonnx_export import save
    from bnn2hw.models import ModelConfig, build_model
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_model(ModelConfig(name, input_bits, tuple(in_shape), classes)).eval()
    weights = []
    for layer in model.binary_layers():
        weights.append(torch.tensor(rng.choice([-1.0, 1.0], size=tuple(layer.weight.shape)), dtype=torch.float32))
    fan_ins = [int(np.prod(w.shape[1:])) for w in weights]
    batchnorms = [m for m in model.layers if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for bn, fan_in in zip(batchnorms, fan_ins):
            spread = float(np.sqrt(fan_in)) * (128.0 if bn is batchnorms[0] and input_bits == 8 else 1.0)
            bn.running_mean.copy_(torch.tensor(rng.normal(0, spread / 2, bn.num_features), dtype=torch.float32))
            bn.running_var.copy_(torch.full((bn.num_features,), spread ** 2))
            bn.weight.copy_(torch.tensor(rng.choice([-1.0, 1.0], bn.num_features) * rng.uniform(0.5, 2, bn.num_features),
                                         dtype=torch.float32))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save(to_qonnx(integer_network(model, weights)), out_path)
    return out_path


def random_rtl_build(root, name: str, input_bits: int, in_shape, dataset: str, fps: float | None, seed: int,
                     folding: dict | None = None, runtime_weights: bool = False, output: str = "labels") -> Path:
    """A random-weight ``name`` built with ``--impl rtl`` into ``root`` (module docstring)."""
    import json

    from bnn2hw.hw import build
    root = Path(root)
    random_model_onnx(root / "model.onnx", name, input_bits, in_shape, 10, seed)
    (root / "verify.json").write_text(json.dumps({"dataset": dataset, "label_mismatches": 0}))
    folding_file = None
    if folding is not None:
        folding_file = root.parent / f"{root.name}-folding.json"
        folding_file.write_text(json.dumps(folding))
    build(root, board="pynq-z2", fps=fps, folding=folding_file, verify_limit=20, impl="rtl",
          runtime_weights=runtime_weights, output=output, log=lambda _: None)
    return root
