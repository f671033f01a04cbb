"""Runtime-writable weights: FINN's ``decoupled_runtime`` weight files, and posterior samples.

Contract:
* ``runtime_layers(dataflow)`` lists the MVAU nodes of ``dataflow.onnx`` whose
  ``runtime_writeable_weights`` is 1 (in graph order): name, MW, MH, PE, SIMD, weight datatype
  and the AXI-lite memory geometry (32-bit words per memory line, words in all). FINN gives
  such a layer an AXI-lite interface onto its weight memory (``mem_mode`` internal_decoupled,
  ``TH`` 1; anything else raises ``DeployError``).
* ``runtime_words(weights, layer)`` lays an ONNX weight matrix (MW, MH) out as FINN's
  ``MVAU.make_weight_file(w, "decoupled_runtime", f)`` does (finn-plus 1.6.1), as uint32 words
  in file order: memory line ``nf·SF + sf`` holds element (pe, s) = W[sf·SIMD + s, nf·PE + pe]
  at bits ``(pe·SIMD + s)·WP``, padded to ``2**ceil(log2(width/32))`` words
  (``bnn2hw.weight_memory.words_per_line``), least significant word first
  (``package.write_weight_file`` writes them as FINN's ``.dat``);
  ``weights_from_words`` is the inverse (what the simulator loads).
* ``sample_weights(build_dir, dataflow, layers)`` reads the posterior samples of a build,
  ``BUILD/samples/<k>/hw/dataflow.onnx`` (the layout ``bnn2hw.sim`` uses: each a build of
  ``compile_run(..., sample=k)`` with the same folding), and returns per sample
  ``{layer: (MW, MH) weights}``. A sample whose graph differs from the build in anything but
  the runtime-writable weights (nodes, thresholds, shapes) is refused: only the weights can be
  swapped on the board.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from bnn2hw.deploy.io_spec import DeployError, datatype_bits, node_attrs, tensor_datatype
from bnn2hw.weight_memory import words_per_line

SAMPLES_DIR = "samples"


def runtime_layers(dataflow: onnx.ModelProto) -> list[dict]:
    layers = []
    for node in dataflow.graph.node:
        attrs = node_attrs(node)
        if not node.op_type.startswith("MVAU") or int(attrs.get("runtime_writeable_weights", 0)) != 1:
            continue
        if attrs.get("mem_mode", "internal_decoupled") != "internal_decoupled" or int(attrs.get("TH", 1)) != 1:
            raise DeployError(f"{node.name}: runtime-writable weights need mem_mode internal_decoupled and TH 1 "
                              f"(has {attrs.get('mem_mode')}, TH {attrs.get('TH', 1)})")
        wdt = tensor_datatype(dataflow.graph, node.input[1]) or attrs["weightDataType"]
        pe, simd, mw, mh = (int(attrs[k]) for k in ("PE", "SIMD", "MW", "MH"))
        per_line = words_per_line(pe * simd * datatype_bits(wdt))
        lines = (mh // pe) * (mw // simd)
        layers.append({"name": node.name, "index": len(layers), "weights_tensor": node.input[1],
                       "MW": mw, "MH": mh, "PE": pe, "SIMD": simd, "weight_datatype": wdt,
                       "words_per_line": per_line, "words": per_line * lines, "file": f"{node.name}.dat",
                       "axilite_ip": None})
    return layers


def _patterns(weights: np.ndarray, wdt: str) -> np.ndarray:
    w = np.rint(np.asarray(weights, dtype=np.float64)).astype(np.int64)
    if wdt == "BIPOLAR":
        return (w + 1) // 2
    return w & ((1 << datatype_bits(wdt)) - 1)


def runtime_words(weights: np.ndarray, layer: dict) -> np.ndarray:
    """(MW, MH) ONNX weights -> uint32 words of FINN's decoupled_runtime file (module docstring)."""
    mw, mh, pe, simd = layer["MW"], layer["MH"], layer["PE"], layer["SIMD"]
    if tuple(np.shape(weights)) != (mw, mh):
        raise DeployError(f"{layer['name']}: weights of shape {np.shape(weights)}, expected {(mw, mh)}")
    bits = datatype_bits(layer["weight_datatype"])
    rows = _patterns(weights, layer["weight_datatype"]).T                      # (MH, MW)
    lines = rows.reshape(mh // pe, pe, mw // simd, simd).transpose(0, 2, 1, 3)  # nf, sf, pe, s
    lines = lines.reshape(-1, pe * simd)
    planes = ((lines[..., None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(len(lines), -1)
    pad = layer["words_per_line"] * 32 - planes.shape[1]
    planes = np.concatenate([planes, np.zeros((len(lines), pad), np.uint8)], axis=1)
    packed = np.packbits(planes, axis=1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u4").reshape(-1).astype(np.uint32)


def weights_from_words(words: np.ndarray, layer: dict) -> np.ndarray:
    """Inverse of ``runtime_words``: uint32 words -> (MW, MH) weights (BIPOLAR ±1, INTn signed)."""
    mw, mh, pe, simd = layer["MW"], layer["MH"], layer["PE"], layer["SIMD"]
    wdt, bits = layer["weight_datatype"], datatype_bits(layer["weight_datatype"])
    words = np.asarray(words, dtype="<u4")
    if words.size != layer["words"]:
        raise DeployError(f"{layer['name']}: {words.size} weight words, expected {layer['words']}")
    as_bytes = words.reshape(-1, layer["words_per_line"]).view(np.uint8)
    planes = np.unpackbits(as_bytes, axis=1, bitorder="little")[:, :pe * simd * bits]
    lines = (planes.reshape(-1, pe * simd, bits).astype(np.int64) << np.arange(bits)).sum(axis=-1)
    rows = lines.reshape(mh // pe, mw // simd, pe, simd).transpose(0, 2, 1, 3).reshape(mh, mw)
    if wdt == "BIPOLAR":
        values = 2 * rows - 1
    elif wdt.startswith("INT"):
        values = rows - ((rows >> (bits - 1)) << bits)
    else:
        values = rows
    return values.T.astype(np.float32)


def graph_weights(dataflow: onnx.ModelProto, layers: list[dict]) -> dict[str, np.ndarray]:
    inits = {t.name: t for t in dataflow.graph.initializer}
    by_name = {n.name: n for n in dataflow.graph.node}
    return {layer["name"]: numpy_helper.to_array(inits[by_name[layer["name"]].input[1]]) for layer in layers}


def _fixed_parts(model: onnx.ModelProto, layers: list[dict]) -> list:
    """Everything of a dataflow graph that runtime weights cannot change, comparable with ==."""
    runtime = {layer["name"] for layer in layers}
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    parts = []
    for node in model.graph.node:
        attrs = {k: v for k, v in node_attrs(node).items() if k in ("MW", "MH", "inputDataType",
                                                                      "outputDataType", "weightDataType")}
        params = [inits[name].tolist() for i, name in enumerate(node.input)
                  if name in inits and not (node.name in runtime and i == 1)]
        parts.append((node.op_type, node.name, sorted(attrs.items()), params))
    return parts


def sample_dirs(build_dir: Path) -> list[Path]:
    root = Path(build_dir) / SAMPLES_DIR
    if not root.is_dir():
        return []
    dirs = [d for d in root.iterdir() if d.name.isdigit() and (d / "hw" / "dataflow.onnx").is_file()]
    return sorted(dirs, key=lambda d: int(d.name))


def sample_weights(build_dir: Path, dataflow: onnx.ModelProto, layers: list[dict], limit: int | None = None):
    """[(sample dir, {layer: (MW, MH) weights})] for the build's posterior samples (module docstring)."""
    expected = _fixed_parts(dataflow, layers)
    out = []
    for index, folder in enumerate(sample_dirs(build_dir)[:limit]):
        if int(folder.name) != index:
            raise DeployError(f"{folder}: posterior samples must be numbered 0, 1, ... without gaps")
        sample = onnx.load(str(folder / "hw" / "dataflow.onnx"))
        if _fixed_parts(sample, layers) != expected:
            raise DeployError(f"{folder}: this sample's accelerator differs from the build's in more than the "
                              f"runtime-writable weights (nodes, datatypes or thresholds); rebuild it with the "
                              f"build's folding (folding=BUILD/hw/folding.json). Samples of methods whose "
                              f"members re-estimate batchnorm (PBNet) have their own thresholds and cannot "
                              f"share one accelerator")
        out.append((folder, graph_weights(sample, layers)))
    return out
