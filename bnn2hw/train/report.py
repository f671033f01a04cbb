"""What a training run leaves for people: ``metrics.json`` and ``curves.png``.

Contract: ``write_metrics`` writes JSON atomically (NaN becomes null); ``write_curves``
plots per-epoch train/validation loss and accuracy with matplotlib's Agg backend.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_metrics(path: Path, metrics: dict) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(_json_safe(metrics), indent=2) + "\n")
    os.replace(tmp, path)


def write_curves(path: Path, history: list[dict], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in ((ax_loss, "loss"), (ax_acc, "acc")):
        ax.plot(epochs, [h[f"train_{key}"] for h in history], marker="o", label="train (sampled)")
        ax.plot(epochs, [h[f"val_{key}"] for h in history], marker="s", label="validation (mode)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy" if key == "loss" else "accuracy")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
