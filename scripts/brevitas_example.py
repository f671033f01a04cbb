"""Export a BNN-PYNQ w1a1 model from Brevitas as a user of Brevitas would, to try `bnn2hw build --model`.

    .venv/bin/python scripts/brevitas_example.py --model TFC_1W1A --out tfc_w1a1.onnx [--seed 0]

The weights are Brevitas' random initialisation (seeded), with batchnorm statistics spread so the
thresholds are not all alike; the file is ``brevitas.export.export_qonnx``'s, float input in [0, 1]
(so `bnn2hw build --model` needs `--input-scale 1/255`). Bring your own trained export instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

INPUT_SHAPES = {"TFC_1W1A": (1, 28, 28), "SFC_1W1A": (1, 28, 28), "LFC_1W1A": (1, 28, 28), "CNV_1W1A": (3, 32, 32)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(INPUT_SHAPES), default="TFC_1W1A")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import torch
    from brevitas.export import export_qonnx
    from brevitas_examples.bnn_pynq.models import model_with_cfg
    torch.manual_seed(args.seed)
    model, _ = model_with_cfg(args.model, pretrained=False)
    for module in model.modules():
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.data = torch.randn(module.num_features) * 4
            module.running_var.data = torch.rand(module.num_features) * 8 + 0.5
    export_qonnx(model.eval(), torch.zeros(1, *INPUT_SHAPES[args.model]), export_path=str(args.out))
    print(f"{args.model} (random weights, seed {args.seed}) exported to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
