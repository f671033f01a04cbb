"""Brevitas BNN-PYNQ w1a1 models (``brevitas_examples.bnn_pynq``) exported as a new user would.

``bnn_pynq_model(name, seed, tensor_norm_sign)`` is ``model_with_cfg(name)`` with random weights and
randomized batchnorm statistics (running mean and variance, γ, β; the TensorNorm tail's scale
signed by ``tensor_norm_sign``), in eval mode. ``export(model, path, form)`` writes it with
``brevitas.export.export_qonnx``: ``plain`` as exported (float input, Reshape, TensorNorm tail, no
TopK), ``cleaned`` after ``qonnx.util.cleanup``, ``notebook`` as FINN's TFC end-to-end notebook does
it (cleanup, ConvertQONNXtoFINN and tidy-up, ToTensor merged in front with ``MergeONNXModels``,
input annotated UINT8, ``InsertTopK``). ``torch_labels(model, images)`` are the model's
predictions on uint8/255, computed as torchvision's ToTensor does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

FORMS = ("plain", "cleaned", "notebook")


def bnn_pynq_model(name: str, seed: int = 0, tensor_norm_sign: float = 1.0) -> nn.Module:
    from brevitas_examples.bnn_pynq.models import model_with_cfg
    from brevitas_examples.bnn_pynq.models.tensor_norm import TensorNorm
    torch.manual_seed(seed)
    model, _ = model_with_cfg(name, pretrained=False)
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, TensorNorm)):
            n = module.running_mean.numel()
            module.running_mean.data = torch.randn(n) * 4
            module.running_var.data = torch.rand(n) * 8 + 0.5
            module.weight.data = torch.randn(n) if n > 1 else torch.rand(1) * tensor_norm_sign + 0.1 * tensor_norm_sign
            module.bias.data = torch.randn(n)
    return model.eval()


class ToTensor(nn.Module):
    """FINN's ``finn.util.pytorch.ToTensor`` (not in finn-plus 1.6.1): uint8 pixels -> [0, 1]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / 255.0


def export(model: nn.Module, path: Path, form: str, in_shape: tuple[int, ...]) -> Path:
    from brevitas.export import export_qonnx
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.insert_topk import InsertTopK
    from qonnx.transformation.merge_onnx_models import MergeONNXModels
    from qonnx.util.cleanup import cleanup_model

    from bnn2hw.hw.finn_passes import finn_frontend
    path = Path(path)
    export_qonnx(model, torch.zeros(1, *in_shape), export_path=str(path))
    if form == "plain":
        return path
    cleaned = cleanup_model(ModelWrapper(str(path)))
    if form == "notebook":
        pre_path = path.with_name(path.stem + "_preproc.onnx")
        export_qonnx(ToTensor(), torch.zeros(1, *in_shape), export_path=str(pre_path))
        pre = finn_frontend(cleanup_model(ModelWrapper(str(pre_path))))
        cleaned = finn_frontend(cleaned).transform(MergeONNXModels(pre))
        cleaned.set_tensor_datatype(cleaned.graph.input[0].name, DataType["UINT8"])
        cleaned = finn_frontend(cleaned.transform(InsertTopK(k=1)))
    cleaned.save(str(path))
    return path


def torch_labels(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """Predictions on ``images`` (uint8 (N, C, H, W)) / 255 in float32, as ToTensor computes them."""
    with torch.no_grad():
        x = torch.from_numpy(images).float().div(255)
        return torch.cat([model(x[i:i + 500]).argmax(dim=1) for i in range(0, len(x), 500)]).numpy()


def train_steps(model: nn.Module, images: np.ndarray, labels: np.ndarray, steps: int, seed: int = 0) -> nn.Module:
    """``steps`` Adam steps of cross-entropy on minibatches of 100 (uint8 / 255), then eval mode."""
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    order = np.random.default_rng(seed).permutation(len(images))
    model.train()
    for step in range(steps):
        batch = order[(step * 100) % len(order):][:100]
        x = torch.from_numpy(images[batch]).float().div(255)
        loss = nn.functional.cross_entropy(model(x), torch.from_numpy(labels[batch]).long())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()
